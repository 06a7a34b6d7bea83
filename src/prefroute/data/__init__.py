"""prefroute.data."""
