"""Pure-NumPy twins of every fastlr kernel: the test oracle and the benchmark baseline."""
from fastlr.reference import rows, schedules
from fastlr.reference.optim import SGD, Adadelta, Adagrad, Adam, AdamW, RMSprop, RowwiseAdagrad

__all__ = ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "RowwiseAdagrad", "rows", "schedules"]
