"""The statistics layer, the one home of inference: intervals, tests against the rest, the false
discovery rate, holdout metrics and curve points. It imports nothing else of the workbench but
its error type."""
from workbench.stats.intervals import (Z95, delong_interval, delong_variance, hanley_mcneil_se, logit_interval,
                                       mean_interval, percentile_interval, sd_from_sums, wilson_interval)
# the two minimums are settings of the tests, not tests: they stay out of __all__
from workbench.stats.significance import (AUC_MIN_CLASS, MEAN_MIN_ROWS, GroupStats, aucs_vs_rest, bh_qvalues,
                                          means_vs_rest, rates_vs_rest)

__all__ = ["GroupStats", "Z95", "aucs_vs_rest", "bh_qvalues", "delong_interval", "delong_variance",
           "hanley_mcneil_se", "logit_interval", "mean_interval", "means_vs_rest", "percentile_interval",
           "rates_vs_rest", "sd_from_sums", "wilson_interval"]
