"""prefroute.train."""
