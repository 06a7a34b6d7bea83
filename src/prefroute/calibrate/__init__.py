"""prefroute.calibrate."""
