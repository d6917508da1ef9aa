"""cl_robust: adversarial robustness of contrastive, supervised-contrastive and supervised learning."""

__version__ = "0.1.0"
