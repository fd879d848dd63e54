"""Old name of `pathkernel.experiments.question`, kept so that existing imports keep working."""
import sys

from pathkernel.experiments import question

sys.modules[__name__] = question
