"""LightningModules of the study's learning schemes and of fine-tuning."""

from cl_robust.methods.base import RobustMethod
from cl_robust.methods.contrastive import ContrastiveMethod
from cl_robust.methods.finetune import FineTune
from cl_robust.methods.simclr import SimCLR
from cl_robust.methods.supcon import SupCon
from cl_robust.methods.supervised import SupervisedLearning

SCHEMES: dict[str, type[RobustMethod]] = {"sl": SupervisedLearning, "cl": SimCLR, "scl": SupCon}

__all__ = ["SCHEMES", "ContrastiveMethod", "FineTune", "RobustMethod", "SimCLR", "SupCon", "SupervisedLearning"]
