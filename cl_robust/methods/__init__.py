"""LightningModules of the study's learning schemes and of fine-tuning."""

from cl_robust.methods.base import RobustMethod
from cl_robust.methods.contrastive import ContrastiveMethod
from cl_robust.methods.finetune import FineTune
from cl_robust.methods.semi_supervised import MIXES, SemiSupervisedMix
from cl_robust.methods.simclr import SimCLR
from cl_robust.methods.supcon import SupCon
from cl_robust.methods.supervised import SupervisedLearning

#: Scheme id -> module class (the semi-supervised mixes share one class; its ``mix`` option is the scheme).
SCHEMES: dict[str, type[RobustMethod]] = {"sl": SupervisedLearning, "cl": SimCLR, "scl": SupCon,
                                          **{mix: SemiSupervisedMix for mix in MIXES}}

__all__ = ["MIXES", "SCHEMES", "ContrastiveMethod", "FineTune", "RobustMethod", "SemiSupervisedMix", "SimCLR",
           "SupCon", "SupervisedLearning"]
