"""The statistics layer, the one home of inference: intervals, tests against the rest, the false
discovery rate, detectable differences, holdout metrics, calibration error and curve points. It
imports nothing else of the workbench but its error type."""
# the ECE's binning, draws and minimums are settings of the estimator and test. The calibration
# functions join __all__ when tests/test_stats.py's registry lists them (their oracles are in
# tests/test_calibration.py for now): that test holds __all__ and the registry equal
from workbench.stats.calibration import (ECE_BINS, ECE_DRAWS, ECE_MIN_ROWS, EXPECTED_MIN, GroupCalibration,
                                         calibration_error, group_calibration, score_bins)
from workbench.stats.delong import GroupDelong, group_delong
from workbench.stats.intervals import (BOUNDS, Z95, auc_interval, delong_interval, delong_variance, hanley_mcneil_se,
                                       logit_interval, mean_interval, percentile_interval, sd_from_sums,
                                       wilson_interval)
# the minimums and the power are settings of the tests, not tests: they stay out of __all__
from workbench.stats.significance import (AUC_MIN_CLASS, DETECT_Z, MEAN_MIN_ROWS, POWER, GroupStats, aucs_vs_rest,
                                          bh_qvalues, detectable_auc, detectable_mean, detectable_rate,
                                          means_vs_rest, rates_vs_rest)

__all__ = ["GroupDelong", "GroupStats", "Z95", "auc_interval", "aucs_vs_rest", "bh_qvalues", "delong_interval",
           "delong_variance", "detectable_auc", "detectable_mean", "detectable_rate", "group_delong",
           "hanley_mcneil_se", "logit_interval", "mean_interval", "means_vs_rest", "percentile_interval",
           "rates_vs_rest", "sd_from_sums", "wilson_interval"]
