"""A safe formula parser: text -> sympy expression, through a whitelist.

The text is parsed by Python's `ast` module (mode "eval") and the tree is walked node by
node; only numbers, the given variable names, the constants `pi` and `E`, the operators
`+ - * / **`, unary minus/plus, parentheses and calls of whitelisted functions with
positional arguments are accepted. The sympy expression is built from the nodes here:
the text is never passed to `eval`, `exec` or `sympify`, so a config cannot run code.
"""

from __future__ import annotations

import ast
import keyword
import math
from collections.abc import Iterable

import sympy


class FormulaSyntaxError(ValueError):
    """Formula text outside the whitelist; the message names the offending part and can be
    shown to the user as is (`kanrun.data` re-raises it as its DatasetError)."""


MAX_LENGTH = 20_000
MAX_DEPTH = 100
MAX_CONSTANT_DIGITS = 5_000

# name -> sympy function of one argument
FUNCTIONS = {
    "sin": sympy.sin,
    "cos": sympy.cos,
    "tan": sympy.tan,
    "exp": sympy.exp,
    "log": sympy.log,
    "sqrt": sympy.sqrt,
    "abs": sympy.Abs,
    "Abs": sympy.Abs,
    "tanh": sympy.tanh,
    "sinh": sympy.sinh,
    "cosh": sympy.cosh,
    "arcsin": sympy.asin,
    "asin": sympy.asin,
    "arccos": sympy.acos,
    "acos": sympy.acos,
    "arctan": sympy.atan,
    "atan": sympy.atan,
    "arctanh": sympy.atanh,
    "atanh": sympy.atanh,
    "sign": sympy.sign,
    "sgn": sympy.sign,
}

# name -> (sympy function, allowed numbers of arguments); only with allow_special=True
SPECIAL_FUNCTIONS = {
    "besselj": (sympy.besselj, (2,)),
    "bessely": (sympy.bessely, (2,)),
    "besselk": (sympy.besselk, (2,)),
    "besseli": (sympy.besseli, (2,)),
    "elliptic_f": (sympy.elliptic_f, (2,)),
    "elliptic_e": (sympy.elliptic_e, (1, 2)),
    "elliptic_k": (sympy.elliptic_k, (1,)),
    "assoc_legendre": (sympy.assoc_legendre, (3,)),
}

CONSTANTS = {"pi": sympy.pi, "E": sympy.E}

_BINARY = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
}

# node type -> what to tell the user it is
_FORBIDDEN = {
    ast.Attribute: "attribute access ('.name') is not allowed",
    ast.Subscript: "subscripts ('[...]') are not allowed",
    ast.Lambda: "lambda functions are not allowed",
    ast.ListComp: "comprehensions are not allowed",
    ast.SetComp: "comprehensions are not allowed",
    ast.DictComp: "comprehensions are not allowed",
    ast.GeneratorExp: "comprehensions are not allowed",
    ast.IfExp: "conditional expressions ('a if c else b') are not allowed",
    ast.Compare: "comparisons are not allowed",
    ast.BoolOp: "'and' / 'or' are not allowed",
    ast.List: "lists are not allowed",
    ast.Tuple: "tuples are not allowed",
    ast.Dict: "dicts are not allowed",
    ast.Set: "sets are not allowed",
    ast.JoinedStr: "strings are not allowed",
    ast.NamedExpr: "assignments (':=') are not allowed",
    ast.Starred: "'*' unpacking is not allowed",
    ast.Slice: "slices are not allowed",
}

_OPERATOR_HINTS = {
    ast.BitXor: "'^' is not a power here; use ** (x**2)",
    ast.FloorDiv: "'//' is not allowed; use /",
    ast.Mod: "'%' is not allowed",
    ast.MatMult: "'@' is not allowed",
    ast.BitAnd: "'&' is not allowed",
    ast.BitOr: "'|' is not allowed",
    ast.LShift: "'<<' is not allowed",
    ast.RShift: "'>>' is not allowed",
    ast.Invert: "'~' is not allowed",
    ast.Not: "'not' is not allowed",
}


def parse_formula(
    text: str,
    variables: Iterable[str] | None = None,
    *,
    allow_special: bool = False,
) -> sympy.Expr:
    """Parse `text` into a sympy expression over real symbols named by `variables`.

    Args:
        text: e.g. "x1*sin(x2) + exp(-x1**2/2)".
        variables: the names a formula may use. None accepts any identifier that is not a
            function or constant name (used to read formulas whose names are unknown).
        allow_special: also accept the sympy special functions besselj, bessely, besselk,
            besseli (order, argument), elliptic_f, elliptic_e, elliptic_k and
            assoc_legendre (degree, order, argument), as found in ground-truth strings.

    Returns a sympy expression whose symbols are `sympy.Symbol(name, real=True)`.
    Raises FormulaSyntaxError naming the offending part for anything outside the whitelist.
    """
    if not isinstance(text, str):
        raise FormulaSyntaxError(f"a formula must be text, got {type(text).__name__}")
    parser = _Parser(text, variables, allow_special)
    return parser.parse()


def allowed_names_help() -> str:
    """A one-line summary of what a formula may contain, for error messages and docs."""
    return (
        "numbers, the variables, the constants pi and E, + - * / **, parentheses, and the "
        f"functions {', '.join(sorted(FUNCTIONS))}"
    )


class _Parser:
    def __init__(self, text: str, variables: Iterable[str] | None, allow_special: bool):
        self.text = text
        self.allow_special = allow_special
        self.functions = dict(FUNCTIONS)
        if allow_special:
            self.functions.update({name: fn for name, (fn, _) in SPECIAL_FUNCTIONS.items()})
        if variables is None:
            self.variables = None
        else:
            if isinstance(variables, str):
                raise FormulaSyntaxError(
                    f"variables must be a list of names, got the text {variables!r}")
            self.variables = {}
            for name in variables:
                check_variable_name(name)
                self.variables[name] = sympy.Symbol(name, real=True)
        self.symbols: dict[str, sympy.Symbol] = {}

    def fail(self, what: str, node: ast.AST | None = None) -> FormulaSyntaxError:
        where = ""
        if node is not None and hasattr(node, "col_offset"):
            segment = ast.get_source_segment(self.text, node) or ""
            where = f" ('{_shorten(segment)}' at column {node.col_offset + 1})"
        return FormulaSyntaxError(
            f"cannot use formula '{_shorten(self.text)}': {what}{where}. "
            f"A formula may contain only {allowed_names_help()}."
        )

    def parse(self) -> sympy.Expr:
        self.text = self.text.strip()
        if not self.text:
            raise FormulaSyntaxError(
                "the formula is empty; write an expression such as 'x1*sin(x2)'")
        if len(self.text) > MAX_LENGTH:
            raise FormulaSyntaxError(
                f"the formula has {len(self.text)} characters; at most {MAX_LENGTH} are accepted"
            )
        try:
            tree = ast.parse(self.text, mode="eval")
        except SyntaxError as error:
            column = f" at column {error.offset}" if error.offset else ""
            raise FormulaSyntaxError(
                f"cannot parse formula '{_shorten(self.text)}': invalid syntax{column} "
                f"({error.msg}). Write one expression, e.g. 'x1*sin(x2)'."
            ) from None
        except (RecursionError, MemoryError, ValueError) as error:
            raise FormulaSyntaxError(
                f"cannot parse formula '{_shorten(self.text)}': {type(error).__name__} "
                f"({error}); simplify the expression"
            ) from None
        result = self.build(tree.body, depth=0)
        if not isinstance(result, sympy.Expr):  # pragma: no cover - every node makes an Expr
            raise self.fail("the result is not a number-valued expression")
        if result.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo, sympy.I):
            raise self.fail(f"it evaluates to a non-finite or complex constant part ({result})")
        return result

    def build(self, node: ast.AST, depth: int) -> sympy.Expr:
        if depth > MAX_DEPTH:
            raise self.fail(f"it is nested more than {MAX_DEPTH} levels deep", node)
        if isinstance(node, ast.Constant):
            return self.constant(node)
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.USub):
                return -self.build(node.operand, depth + 1)
            if isinstance(node.op, ast.UAdd):
                return self.build(node.operand, depth + 1)
            hint = _OPERATOR_HINTS.get(type(node.op), "this operator is not allowed")
            raise self.fail(hint, node)
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):
            return self.chain(node, (ast.Add, ast.Sub), depth)
        if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mult, ast.Div)):
            return self.chain(node, (ast.Mult, ast.Div), depth)
        if isinstance(node, ast.BinOp):
            if not isinstance(node.op, ast.Pow):
                hint = _OPERATOR_HINTS.get(type(node.op), "this operator is not allowed")
                raise self.fail(hint, node)
            left = self.build(node.left, depth + 1)
            right = self.build(node.right, depth + 1)
            return self.power(left, right, node)
        if isinstance(node, ast.Call):
            return self.call(node, depth)
        for node_type, description in _FORBIDDEN.items():
            if isinstance(node, node_type):
                raise self.fail(description, node)
        raise self.fail(f"'{type(node).__name__}' expressions are not allowed", node)

    def chain(self, node: ast.BinOp, operators: tuple, depth: int) -> sympy.Expr:
        """Build a left-nested run of + - (or * /) at once: long sums are not deep."""
        operands = []
        while isinstance(node, ast.BinOp) and isinstance(node.op, operators):
            operands.append((node.op, node.right))
            node = node.left
        result = self.build(node, depth + 1)
        for operator, operand in reversed(operands):
            value = self.build(operand, depth + 1)
            result = _BINARY[type(operator)](result, value)
            if result.is_Number and _log10_magnitude(result) > MAX_CONSTANT_DIGITS:
                raise self.fail(f"a constant has more than {MAX_CONSTANT_DIGITS} digits", node)
        return result

    def constant(self, node: ast.Constant) -> sympy.Expr:
        value = node.value
        if isinstance(value, bool) or value is None or value is Ellipsis:
            raise self.fail(f"the constant {value!r} is not a number", node)
        if isinstance(value, (str, bytes)):
            raise self.fail("strings are not allowed", node)
        if isinstance(value, complex):
            raise self.fail("complex numbers are not allowed", node)
        if isinstance(value, int):
            return sympy.Integer(value)
        if isinstance(value, float):
            if not math.isfinite(value):
                raise self.fail("the number is too large (not finite)", node)
            return sympy.Float(value)
        raise self.fail(f"the constant {value!r} is not a number", node)  # pragma: no cover

    def name(self, node: ast.Name) -> sympy.Expr:
        name = node.id
        if self.variables is not None and name in self.variables:
            return self.variables[name]
        if name in CONSTANTS:
            return CONSTANTS[name]
        if name in self.functions:
            raise self.fail(f"'{name}' is a function; call it like {name}(x)", node)
        if self.variables is None:
            if name.startswith("_"):
                raise self.fail(f"the name '{name}' is not allowed", node)
            return self.symbols.setdefault(name, sympy.Symbol(name, real=True))
        known = ", ".join(self.variables) or "(none)"
        raise FormulaSyntaxError(
            f"cannot use formula '{_shorten(self.text)}': unknown name '{name}' at column "
            f"{node.col_offset + 1}. Known variables: {known}; constants: pi, E. "
            f"To add a variable, give its range, e.g. dataset.ranges={{{name}:[-1,1]}}."
        )

    def call(self, node: ast.Call, depth: int) -> sympy.Expr:
        if isinstance(node.func, ast.Attribute):
            raise self.fail(_FORBIDDEN[ast.Attribute], node.func)
        if not isinstance(node.func, ast.Name):
            raise self.fail("only plain function names can be called, e.g. sin(x1)", node)
        name = node.func.id
        if name not in self.functions:
            choices = ", ".join(sorted(self.functions))
            raise FormulaSyntaxError(
                f"cannot use formula '{_shorten(self.text)}': unknown function '{name}' at "
                f"column {node.col_offset + 1}. Allowed functions: {choices}."
            )
        if node.keywords:
            raise self.fail(f"keyword arguments are not allowed in {name}(...)", node)
        arities = (1,)
        if name in SPECIAL_FUNCTIONS and self.allow_special:
            arities = SPECIAL_FUNCTIONS[name][1]
        if len(node.args) not in arities:
            expected = " or ".join(str(a) for a in arities)
            raise self.fail(f"{name} takes {expected} argument(s), got {len(node.args)}", node)
        args = [self.build(arg, depth + 1) for arg in node.args]
        return self.functions[name](*args)

    def power(self, base: sympy.Expr, exponent: sympy.Expr, node: ast.AST) -> sympy.Expr:
        if base.is_Number and exponent.is_Number:
            digits = _log10_magnitude(base) * abs(float(exponent))
            if digits > MAX_CONSTANT_DIGITS:
                raise self.fail(
                    f"the constant power has about {digits:.0f} digits; at most "
                    f"{MAX_CONSTANT_DIGITS} are accepted",
                    node,
                )
        return base**exponent


def check_variable_name(name: object) -> None:
    """Raise FormulaSyntaxError unless `name` can be used as a variable in a formula."""
    if not isinstance(name, str) or not name.isidentifier():
        raise FormulaSyntaxError(
            f"variable name {name!r} is not a valid identifier; use letters, digits and "
            f"underscores, starting with a letter (e.g. x1, theta, E_f)"
        )
    if keyword.iskeyword(name):
        raise FormulaSyntaxError(
            f"variable name '{name}' is a Python keyword; rename it (e.g. '{name}_')"
        )
    if name.startswith("_"):
        raise FormulaSyntaxError(f"variable name '{name}' must not start with an underscore")
    if name in FUNCTIONS or name in SPECIAL_FUNCTIONS or name in CONSTANTS:
        raise FormulaSyntaxError(
            f"variable name '{name}' is also a function or constant name; rename it "
            f"(e.g. '{name}_')"
        )


def _log10_magnitude(number: sympy.Expr) -> float:
    """About how many decimal digits |number| has (at least 1), without computing it."""
    if number.is_Integer:
        return max(1.0, abs(int(number)).bit_length() * math.log10(2))
    if number.is_Rational:
        p, q = number.as_numer_denom()
        bits = max(abs(int(p)).bit_length(), abs(int(q)).bit_length())
        return max(1.0, bits * math.log10(2))
    value = abs(float(number))
    return max(1.0, abs(math.log10(value)) if value > 0 else 1.0)


def _shorten(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
