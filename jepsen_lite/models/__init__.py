"""Sequential specifications (models) the checker tests histories against.

Ship: ``register``, ``cas-register``, ``multi-register``, ``kv``, ``set``, ``counter``.
:func:`make_model` builds one by name with an optional initial value (the ``--init`` JSON).
"""

from __future__ import annotations

from collections.abc import Callable

from .base import KeyedInit as KeyedInit
from .base import KeyedModel as KeyedModel
from .base import Model as Model
from .base import Partition as Partition
from .base import State as State
from .counter import CounterModel as CounterModel
from .kv import KvModel as KvModel
from .multi_register import MultiRegisterModel as MultiRegisterModel
from .register import CasRegisterModel as CasRegisterModel
from .register import RegisterModel as RegisterModel
from .set import SetModel as SetModel

_MODELS: dict[str, Callable[[KeyedInit], Model]] = {
    "register": lambda init: RegisterModel(init),
    "cas-register": lambda init: CasRegisterModel(init),
    "multi-register": lambda init: MultiRegisterModel(init),
    "kv": lambda init: KvModel(init),
    "set": lambda init: SetModel(init),
    "counter": lambda init: CounterModel(init),
}

MODEL_NAMES: tuple[str, ...] = tuple(_MODELS)


def make_model(name: str, init: object = None) -> Model:
    """The model called ``name`` with initial value ``init`` (decoded ``--init`` JSON:
    an object maps keys to initial values; anything else is every key's initial value;
    ``None`` keeps the model's default). Raises ``ValueError`` for an unknown name or an
    unusable initial value."""
    factory = _MODELS.get(name)
    if factory is None:
        raise ValueError(f"unknown model {name!r} (models: {', '.join(MODEL_NAMES)})")
    try:
        initial = KeyedInit.from_json(init)
    except TypeError as exc:
        raise ValueError(f"bad initial value: {exc}") from None
    if name == "counter":
        for value in (initial.default, *(v for _, v in initial.per_key)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise ValueError(f"a counter's initial value must be an integer, got {value!r}")
    return factory(initial)


__all__ = [
    "MODEL_NAMES",
    "CasRegisterModel",
    "CounterModel",
    "KeyedInit",
    "KeyedModel",
    "KvModel",
    "Model",
    "MultiRegisterModel",
    "Partition",
    "RegisterModel",
    "SetModel",
    "State",
    "make_model",
]
