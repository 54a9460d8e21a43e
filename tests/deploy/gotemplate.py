"""A small renderer for the plain subset of Go templates that helm/mixsweep uses.

Helm is not available where the tests run, so tests/deploy/check_deploy.py
renders the chart with this. It implements exactly what the chart's
templates use, and refuses everything else (an unknown function or action is
an error, so a template that strays from the subset fails the check rather
than rendering wrongly):

  actions   {{ pipeline }}, if / else if / else, with / else, range (over
            lists and maps, optionally `$v :=` or `$k, $v :=`), define,
            comments {{/* */}}, and the {{- -}} whitespace trims
  operands  . , .a.b , $ , $.a.b , $var , $var.a , "strings", numbers,
            true / false, ( pipelines )
  functions include, toYaml, nindent, indent, quote, default, eq, ne, not,
            and, or

Semantics follow text/template as Helm runs it:
- numbers from values.yaml are float64 in Helm and print with Go's %v
  (1000000 prints as 1e+06); go_format() reproduces that;
- a missing map key gives nil, printed as ""; a field of nil is an error.
  With strict=True (what the check uses) a missing key under .Values is an
  error too: values.yaml must declare every value a template reads;
- range over a map visits the keys in sorted order;
- truth: false, 0, nil and empty strings, lists and maps are false.
"""

import json
import re
from decimal import Decimal

import yaml


class TemplateError(Exception):
    pass


# ---------------------------------------------------------------- lexing

_ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.S)


def _split(text):
    """Text and action pieces, with the {{- -}} trims applied."""
    pieces = []
    pos = 0
    trim_next = False
    for m in _ACTION.finditer(text):
        chunk = text[pos:m.start()]
        if trim_next:
            chunk = chunk.lstrip(" \t\r\n")
        if m.group(1):
            chunk = chunk.rstrip(" \t\r\n")
        if chunk:
            pieces.append(("text", chunk))
        body = m.group(2).strip()
        if not (body.startswith("/*") and body.endswith("*/")):
            pieces.append(("action", body))
        trim_next = bool(m.group(3))
        pos = m.end()
    chunk = text[pos:]
    if trim_next:
        chunk = chunk.lstrip(" \t\r\n")
    if chunk:
        pieces.append(("text", chunk))
    return pieces


_TOKEN = re.compile(r"""
    \s*(?:
      (?P<str>"(?:[^"\\]|\\.)*")
    | (?P<num>-?\d+(?:\.\d+)?)
    | (?P<decl>:=)
    | (?P<punct>[|(),])
    | (?P<var>\$[A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)
    | (?P<field>(?:\.[A-Za-z0-9_]+)+|\.)
    | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    )""", re.X)


def _tokens(src):
    out = []
    pos = 0
    src = src.rstrip()
    while pos < len(src):
        m = _TOKEN.match(src, pos)
        if not m or m.end() == pos:
            raise TemplateError(f"cannot read {src[pos:]!r} in {{{{ {src} }}}}")
        kind = m.lastgroup
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


# ---------------------------------------------------------------- parsing
#
# Nodes: ("text", s) | ("out", pipe) | ("if", [(pipe, body)...], else_body)
#      | ("with", pipe, body, else_body) | ("range", vars, pipe, body, else_body)
# A pipe is a list of commands; a command a list of operand nodes:
#   ("lit", v) | ("field", base, [names]) | ("fn", name) | ("sub", pipe)
# where base is "." or "$name".


def _parse_operand(tok, toks, i):
    kind, val = tok
    if kind == "str":
        return ("lit", json.loads(val)), i
    if kind == "num":
        return ("lit", float(val) if "." in val else int(val)), i
    if kind == "field":
        return ("field", ".", [] if val == "." else val[1:].split(".")), i
    if kind == "var":
        parts = val.split(".")
        return ("field", parts[0], parts[1:]), i
    if kind == "ident":
        if val in ("true", "false"):
            return ("lit", val == "true"), i
        if val == "nil":
            return ("lit", None), i
        return ("fn", val), i
    if kind == "punct" and val == "(":
        pipe, i = _parse_pipe(toks, i, closing=")")
        return ("sub", pipe), i
    raise TemplateError(f"unexpected {val!r}")


def _parse_pipe(toks, i=0, closing=None):
    pipe, cmd = [], []
    while i < len(toks):
        kind, val = toks[i]
        i += 1
        if kind == "punct" and val == "|":
            if not cmd:
                raise TemplateError("empty command in pipeline")
            pipe.append(cmd)
            cmd = []
        elif kind == "punct" and val == ")":
            if closing != ")":
                raise TemplateError("unbalanced )")
            break
        else:
            node, i = _parse_operand((kind, val), toks, i)
            cmd.append(node)
    else:
        if closing:
            raise TemplateError("missing )")
    if not cmd:
        raise TemplateError("empty pipeline")
    pipe.append(cmd)
    return pipe, i


def _parse_range_head(src):
    toks = _tokens(src)
    names = []
    if any(k == "decl" for k, _ in toks):
        j = next(n for n, (k, _) in enumerate(toks) if k == "decl")
        names = [v for k, v in toks[:j] if k == "var"]
        toks = toks[j + 1:]
    return names, _parse_pipe(toks)[0]


def _parse(pieces, i=0, stop=()):
    """Nodes up to one of the `stop` keywords; returns (nodes, i, keyword)."""
    nodes = []
    while i < len(pieces):
        kind, val = pieces[i]
        i += 1
        if kind == "text":
            nodes.append(("text", val))
            continue
        word = val.split(None, 1)[0] if val else ""
        rest = val[len(word):].strip()
        if word in ("end", "else") and word in stop:
            return nodes, i, val
        if word in ("end", "else"):
            raise TemplateError(f"unexpected {{{{ {val} }}}}")
        if word == "if":
            branches, else_body = [], []
            cond = _parse_pipe(_tokens(rest))[0]
            while True:
                body, i, kw = _parse(pieces, i, ("end", "else"))
                branches.append((cond, body))
                if kw == "end":
                    break
                if kw.startswith("else if "):
                    cond = _parse_pipe(_tokens(kw[len("else if "):]))[0]
                    continue
                if kw != "else":
                    raise TemplateError(f"unsupported {{{{ {kw} }}}}")
                else_body, i, kw = _parse(pieces, i, ("end",))
                break
            nodes.append(("if", branches, else_body))
        elif word in ("with", "range"):
            if word == "with":
                head = ([], _parse_pipe(_tokens(rest))[0])
            else:
                head = _parse_range_head(rest)
            body, i, kw = _parse(pieces, i, ("end", "else"))
            else_body = []
            if kw == "else":
                else_body, i, kw = _parse(pieces, i, ("end",))
            elif kw != "end":
                raise TemplateError(f"unsupported {{{{ {kw} }}}}")
            if word == "with":
                nodes.append(("with", head[1], body, else_body))
            else:
                nodes.append(("range", head[0], head[1], body, else_body))
        elif word == "define":
            name = json.loads(rest)
            body, i, _ = _parse(pieces, i, ("end",))
            nodes.append(("define", name, body))
        elif word in ("template", "block", "break", "continue"):
            raise TemplateError(f"{{{{ {word} }}}} is outside the chart's template subset")
        else:
            nodes.append(("out", _parse_pipe(_tokens(val))[0]))
    if stop:
        raise TemplateError(f"missing {{{{ end }}}} (expected one of {stop})")
    return nodes, i, None


# ---------------------------------------------------------------- values


def go_format(v):
    """A value as Helm prints it: Go's %v, numbers being float64."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        if v == 0:
            return "0"
        # fmt's %v of a float64 is strconv.FormatFloat(v, 'g', -1, 64):
        # the shortest digits, in exponent form when the exponent is below
        # -4 or at least 6 (the precision 'g' assumes for shortest output).
        d = Decimal(repr(float(v))).normalize()
        sign, digits, exp10 = d.as_tuple()
        exp = len(digits) + exp10 - 1
        if exp < -4 or exp >= 6:
            mant = "".join(map(str, digits))
            mant = mant[0] + ("." + mant[1:] if len(mant) > 1 else "")
            return ("-" if sign else "") + f"{mant}e{'+' if exp >= 0 else '-'}{abs(exp):02d}"
        return format(d, "f")
    if isinstance(v, str):
        return v
    raise TemplateError(f"printing a {type(v).__name__} ({v!r}): use toYaml")


def truth(v):
    if v is None or v is False:
        return False
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return v != 0
    if isinstance(v, (str, list, dict)):
        return len(v) > 0
    return True


def to_yaml(v):
    if v is None:
        return "null"
    return yaml.safe_dump(v, default_flow_style=False, sort_keys=True).rstrip("\n")


def _indent(n, s):
    pad = " " * int(n)
    return "\n".join(pad + line for line in s.split("\n"))


class Renderer:
    def __init__(self, strict=True):
        self.defines = {}
        self.strict = strict

    def load(self, name, text):
        nodes, _, _ = _parse(_split(text))
        body = []
        for node in nodes:
            if node[0] == "define":
                self.defines[node[1]] = node[2]
            else:
                body.append(node)
        return body

    def render(self, nodes, root):
        return self._exec(nodes, root, {"$": root})

    # -- execution

    def _exec(self, nodes, dot, scope):
        out = []
        for node in nodes:
            kind = node[0]
            if kind == "text":
                out.append(node[1])
            elif kind == "out":
                out.append(go_format(self._pipe(node[1], dot, scope)))
            elif kind == "if":
                for cond, body in node[1]:
                    if truth(self._pipe(cond, dot, scope)):
                        out.append(self._exec(body, dot, dict(scope)))
                        break
                else:
                    out.append(self._exec(node[2], dot, dict(scope)))
            elif kind == "with":
                v = self._pipe(node[1], dot, scope)
                if truth(v):
                    out.append(self._exec(node[2], v, dict(scope)))
                else:
                    out.append(self._exec(node[3], dot, dict(scope)))
            elif kind == "range":
                names, pipe, body, else_body = node[1:]
                v = self._pipe(pipe, dot, scope)
                if isinstance(v, dict):
                    items = [(k, v[k]) for k in sorted(v)]
                elif isinstance(v, list):
                    items = list(enumerate(v))
                elif v is None:
                    items = []
                else:
                    raise TemplateError(f"range over {type(v).__name__}")
                if not items:
                    out.append(self._exec(else_body, dot, dict(scope)))
                for k, item in items:
                    inner = dict(scope)
                    if len(names) == 1:
                        inner[names[0]] = item
                    elif len(names) == 2:
                        inner[names[0]], inner[names[1]] = k, item
                    out.append(self._exec(body, item, inner))
            else:
                raise TemplateError(f"node {kind}")
        return "".join(out)

    def _pipe(self, pipe, dot, scope):
        value = _NOTHING
        for cmd in pipe:
            args = [] if value is _NOTHING else [value]
            value = self._command(cmd, dot, scope, args)
        return value

    def _command(self, cmd, dot, scope, piped):
        head = cmd[0]
        if head[0] == "fn":
            args = [self._operand(a, dot, scope) for a in cmd[1:]] + piped
            return self._call(head[1], args, dot)
        if len(cmd) != 1 or piped:
            raise TemplateError(f"{head} is not a function")
        return self._operand(head, dot, scope)

    def _operand(self, node, dot, scope):
        kind = node[0]
        if kind == "lit":
            return node[1]
        if kind == "sub":
            return self._pipe(node[1], dot, scope)
        if kind == "fn":
            return self._call(node[1], [], dot)
        base, names = node[1], node[2]
        if base == ".":
            v = dot
        elif base in scope:
            v = scope[base]
        else:
            raise TemplateError(f"undefined variable {base}")
        path = [] if base == "." else [base]
        for name in names:
            if not isinstance(v, dict):
                raise TemplateError(f"nil pointer evaluating {'.'.join(path)}.{name}")
            if name not in v:
                if self.strict and isinstance(v, _Values):
                    raise TemplateError(f"{'.'.join(path)}.{name}: not in values.yaml")
                v = None
            else:
                v = v[name]
            path.append(name)
        return v

    def _call(self, name, args, dot):
        def want(n):
            if len(args) != n:
                raise TemplateError(f"{name} takes {n} arguments, got {len(args)}")
        if name == "include":
            want(2)
            if args[0] not in self.defines:
                raise TemplateError(f"include of undefined template {args[0]!r}")
            return self._exec(self.defines[args[0]], args[1], {"$": args[1]})
        if name == "toYaml":
            want(1)
            return to_yaml(_plain(args[0]))
        if name == "nindent":
            want(2)
            return "\n" + _indent(args[0], args[1])
        if name == "indent":
            want(2)
            return _indent(args[0], args[1])
        if name == "quote":
            return " ".join(json.dumps(go_format(a)) for a in args)
        if name == "default":
            want(2)
            return args[1] if truth(args[1]) else args[0]
        if name in ("eq", "ne"):
            want(2)
            same = args[0] == args[1] and type(args[0]) is type(args[1]) \
                or (isinstance(args[0], (int, float)) and isinstance(args[1], (int, float))
                    and args[0] == args[1])
            return same if name == "eq" else not same
        if name == "not":
            want(1)
            return not truth(args[0])
        if name == "and":
            for a in args:
                if not truth(a):
                    return a
            return args[-1]
        if name == "or":
            for a in args:
                if truth(a):
                    return a
            return args[-1]
        raise TemplateError(f"function {name!r} is outside the chart's template subset")


_NOTHING = object()


class _Values(dict):
    """A map read from values.yaml: under strict rendering, a missing key is
    an error rather than nil."""


def values_tree(v):
    if isinstance(v, dict):
        return _Values({k: values_tree(x) for k, x in v.items()})
    if isinstance(v, list):
        return [values_tree(x) for x in v]
    return v


def _plain(v):
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return v
