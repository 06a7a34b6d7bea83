"""prefroute.evals."""
