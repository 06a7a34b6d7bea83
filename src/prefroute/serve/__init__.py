"""prefroute.serve."""
