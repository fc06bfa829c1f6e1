"""SAR physics: what the simulator and the classical estimators must get right.

NumPy/SciPy only (import-linter keeps torch and the learning code out):
radiometry (dB, noise floor), sensor geometry and SLC grid, land cover and
change events, speckle, GRD detection, decorrelation terms, the SLC stack
simulator, and the estimators (sample coherence, intensity correlation,
Touzi's bias) the tests check against theory.
"""
