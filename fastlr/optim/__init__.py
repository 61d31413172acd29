"""fastlr's optimizers: PyTorch's names, defaults and update rules, on NumPy arrays."""
from fastlr.optim._base import Optimizer
from fastlr.optim.adadelta import Adadelta
from fastlr.optim.adagrad import Adagrad
from fastlr.optim.adam import Adam, AdamW
from fastlr.optim.rmsprop import RMSprop
from fastlr.optim._rowgrad import RowGrad
from fastlr.optim.rowwise_adagrad import RowwiseAdagrad
from fastlr.optim.sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta",
           "RowGrad", "RowwiseAdagrad"]
