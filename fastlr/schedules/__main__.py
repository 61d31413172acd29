"""Draw any schedule to a PNG (or print its values).

Either name a factory and give its arguments as options::

    python -m fastlr.schedules cosine --lr 0.1 --T_max 1000 --steps 1500 -o cosine.png
    python -m fastlr.schedules one_cycle --max_lr 0.1 --total_steps 1000 --anneal_strategy linear

or write a schedule expression (factories, numbers, lists, strings and ``*`` only; nothing is
executed)::

    python -m fastlr.schedules "warmup(cosine(0.1, 1000), 100, 0.01)" --steps 1200 -o w.png
    python -m fastlr.schedules "0.5 * cosine(0.1, 1000) * step(1.0, 300, 0.5)" --print 0 500 1000

Several expressions separated by ``;`` are drawn on one figure.
"""

from __future__ import annotations

import argparse
import ast
import inspect
import sys
from typing import Any, Dict, List, Optional, Sequence

from fastlr import schedules as _schedules
from fastlr.schedules import _factories

FACTORIES: Dict[str, Any] = {name: getattr(_factories, name) for name in _factories.__all__}


def _eval_node(node: ast.AST) -> Any:
    if isinstance(node, ast.Expression):
        return _eval_node(node.body)
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, str, bool,
                                                                  type(None))):
        return node.value
    if isinstance(node, (ast.List, ast.Tuple)):
        return [_eval_node(e) for e in node.elts]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        v = _eval_node(node.operand)
        return -v if isinstance(node.op, ast.USub) else +v
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
        return _eval_node(node.left) * _eval_node(node.right)
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Div, ast.Pow)):
        left, right = _eval_node(node.left), _eval_node(node.right)
        if all(isinstance(v, (int, float)) for v in (left, right)):  # numbers only: 1/3, 10**6
            return left / right if isinstance(node.op, ast.Div) else left ** right
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id in FACTORIES):
        args = [_eval_node(a) for a in node.args]
        kwargs = {k.arg: _eval_node(k.value) for k in node.keywords if k.arg is not None}
        return FACTORIES[node.func.id](*args, **kwargs)
    raise ValueError(f"not allowed in a schedule expression: {ast.dump(node)[:60]}")


def parse_expression(text: str) -> Any:
    """Evaluate a schedule expression safely (factories, literals and ``*`` only)."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ValueError(f"cannot parse {text!r}: {exc.msg}") from None
    return _eval_node(tree)


def _option_value(text: str) -> Any:
    try:
        return parse_expression(text)
    except ValueError:
        return text  # a bare word such as cos, linear, triangular2


def _from_options(name: str, extra: Sequence[str]) -> Any:
    params = inspect.signature(FACTORIES[name]).parameters
    kwargs: Dict[str, Any] = {}
    i = 0
    while i < len(extra):
        key = extra[i]
        if not key.startswith("--"):
            raise ValueError(f"unexpected argument {key!r}")
        key, _, value = key[2:].partition("=")
        if not value:
            if i + 1 >= len(extra):
                raise ValueError(f"--{key} needs a value")
            value = extra[i + 1]
            i += 1
        if key not in params:
            raise ValueError(f"{name}() has no argument {key!r}; it takes "
                             f"{', '.join(params)}")
        kwargs[key] = _option_value(value)
        i += 1
    return FACTORIES[name](**kwargs)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fastlr.schedules",
        description="Draw a fastlr learning-rate schedule to a PNG or print its values.",
        epilog="factories: " + ", ".join(FACTORIES),
    )
    parser.add_argument("schedule", help="a factory name (then its arguments as --name value) "
                                         "or a schedule expression; ';' separates several")
    parser.add_argument("--steps", type=int, default=None,
                        help="draw steps 0 .. STEPS-1 (default 1000)")
    parser.add_argument("-o", "--output", default=None, help="PNG file to write")
    parser.add_argument("--print", dest="print_steps", type=int, nargs="*", default=None,
                        metavar="T", help="print the value at these steps instead of drawing")
    parser.add_argument("--title", default=None)
    args, extra = parser.parse_known_args(argv)

    try:
        if args.schedule in FACTORIES:
            scheds = [_from_options(args.schedule, extra)]
            labels = None
        else:
            if extra:
                raise ValueError(f"unexpected arguments {extra} after an expression")
            labels = [e.strip() for e in args.schedule.split(";") if e.strip()]
            scheds = [parse_expression(e) for e in labels]
        for s in scheds:
            if not isinstance(s, _schedules.Schedule):
                raise ValueError(f"{s!r} is not a schedule")
    except (ValueError, TypeError) as exc:
        parser.error(str(exc))

    if args.print_steps is not None:
        for s in scheds:
            print(repr(s))
            for t in args.print_steps:
                print(f"{t}\t{s(t)!r}")
        return 0

    steps = 1000 if args.steps is None else args.steps
    if steps < 1:
        parser.error("--steps must be >= 1")
    output = args.output or f"{scheds[0].name}.png"
    try:
        ax = _schedules.plot(scheds, steps, labels=labels)
    except ImportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    ax.set_title(args.title or "; ".join(repr(s) for s in scheds)[:90], fontsize=8)
    fig = ax.figure
    fig.tight_layout()
    fig.savefig(output, dpi=80)
    print(output)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
