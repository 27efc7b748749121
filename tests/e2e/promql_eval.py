# SPDX-License-Identifier: MIT
"""A small PromQL evaluator for the expected side of test_promql.py.

It covers the subset our documentation and shipped files use: vector
selectors with matchers, rate()/increase()/max_over_time() over a range,
sum/max/min/count by/without, topk/bottomk, arithmetic and comparison operators between
vectors (one-to-one on all labels but the name) and with scalars, `or`, and
vector(scalar).  Anything
else raises Unsupported, so an example that uses more fails the test until
this file learns it; it is never skipped.

Where the data comes from is the caller's business: instant selectors are
answered by `instant(name, matchers)` (the test answers from its ground
truth), range selectors by `samples(selector_text, name, matchers)` (the
test asks Prometheus for the raw samples and checks them against the ground
truth).  rate() and increase() then follow Prometheus 2.x's
extrapolatedRate() exactly; max_over_time() is the largest sample.
"""

import re


class Unsupported(Exception):
    pass


TOKEN_RE = re.compile(r"""
    (?P<ws>\s+)
  | (?P<num>\d+(?:\.\d+)?(?:e[+-]?\d+)?)
  | (?P<str>"(?:[^"\\]|\\.)*")
  | (?P<dur>\[[0-9]+[smhdwy]\])
  | (?P<op>=~|!~|!=|==|>=|<=|[-+*/(){},=<>])
  | (?P<ident>[a-zA-Z_:][a-zA-Z0-9_:]*)
""", re.X)

AGGS = {"sum", "max", "min", "count", "avg"}
KAGGS = {"topk", "bottomk"}
FUNCS = {"rate", "increase", "max_over_time"}
ARITH = {"+", "-", "*", "/"}
CMP = {"==", "!=", ">", "<", ">=", "<="}
PREC = {"or": 0, "==": 1, "!=": 1, ">": 1, "<": 1, ">=": 1, "<=": 1,
        "+": 2, "-": 2, "*": 3, "/": 3}
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def tokenize(s):
    toks, i = [], 0
    while i < len(s):
        m = TOKEN_RE.match(s, i)
        if not m:
            raise Unsupported("cannot tokenize %r at %d" % (s, i))
        i = m.end()
        kind = m.lastgroup
        if kind != "ws":
            toks.append((kind, m.group(kind), m.start()))
    return toks


class Parser:
    def __init__(self, text):
        self.text = text
        self.toks = tokenize(text)
        self.i = 0

    def peek(self, k=0):
        j = self.i + k
        return self.toks[j] if j < len(self.toks) else (None, None, len(self.text))

    def take(self, val=None, kind=None):
        t = self.peek()
        if (val is not None and t[1] != val) or (kind is not None and t[0] != kind):
            raise Unsupported("expected %s at %d in %r" % (val or kind, t[2], self.text))
        self.i += 1
        return t

    def parse(self):
        e = self.expr(0)
        if self.peek()[0] is not None:
            raise Unsupported("trailing input at %d in %r" % (self.peek()[2], self.text))
        return e

    def expr(self, min_prec):
        left = self.unary()
        while True:
            k, v, _ = self.peek()
            if k not in ("op", "ident") or v not in PREC or \
                    PREC[v] < min_prec:
                return left
            self.i += 1
            if self.peek()[1] in ("on", "ignoring", "group_left", "group_right", "bool"):
                raise Unsupported("vector matching modifiers in %r" % self.text)
            right = self.expr(PREC[v] + 1)
            left = ("bin", v, left, right)

    def unary(self):
        k, v, pos = self.peek()
        if k == "num":
            self.i += 1
            return ("num", float(v))
        if v == "(":
            self.i += 1
            e = self.expr(0)
            self.take(")")
            return e
        if k != "ident":
            raise Unsupported("unexpected %r at %d in %r" % (v, pos, self.text))
        if v in AGGS or v in KAGGS:
            return self.aggregation()
        if v == "vector" and self.peek(1)[1] == "(":
            self.i += 2
            e = self.expr(0)
            self.take(")")
            return ("vector", e)
        if v in FUNCS:
            self.i += 1
            self.take("(")
            start = self.peek()[2]
            name, matchers = self.selector()
            end = self.peek()[2]
            dur = self.take(kind="dur")[1]
            self.take(")")
            sel_text = self.text[start:end].strip()
            return ("func", v, name, matchers, sel_text, parse_duration(dur[1:-1]))
        if self.peek(1)[1] == "(":
            raise Unsupported("function %s in %r" % (v, self.text))
        name, matchers = self.selector()
        if self.peek()[0] == "dur":
            raise Unsupported("bare range selector in %r" % self.text)
        return ("sel", name, matchers)

    def selector(self):
        name = self.take(kind="ident")[1]
        matchers = []
        if self.peek()[1] == "{":
            self.i += 1
            while self.peek()[1] != "}":
                lab = self.take(kind="ident")[1]
                op = self.take(kind="op")[1]
                if op not in ("=", "!=", "=~", "!~"):
                    raise Unsupported("matcher %s" % op)
                val = self.take(kind="str")[1]
                matchers.append((lab, op, unquote(val)))
                if self.peek()[1] == ",":
                    self.i += 1
            self.take("}")
        return name, matchers

    def aggregation(self):
        op = self.take(kind="ident")[1]
        mode, labels = None, []
        if self.peek()[1] in ("by", "without"):
            mode, labels = self.take()[1], self.label_list()
        self.take("(")
        param = None
        if op in KAGGS:
            param = self.take(kind="num")[1]
            self.take(",")
        e = self.expr(0)
        self.take(")")
        if self.peek()[1] in ("by", "without"):
            mode, labels = self.take()[1], self.label_list()
        return ("agg", op, mode, labels, param and int(float(param)), e)

    def label_list(self):
        self.take("(")
        labels = []
        while self.peek()[1] != ")":
            labels.append(self.take(kind="ident")[1])
            if self.peek()[1] == ",":
                self.i += 1
        self.take(")")
        return labels


def unquote(s):
    return re.sub(r"\\(.)", lambda m: {"n": "\n"}.get(m.group(1), m.group(1)), s[1:-1])


def parse_duration(s):
    return int(s[:-1]) * UNITS[s[-1]]


def match(labels, matchers):
    for lab, op, val in matchers:
        have = labels.get(lab, "")
        if op == "=" and have != val:
            return False
        if op == "!=" and have == val:
            return False
        if op == "=~" and not re.fullmatch(val, have):
            return False
        if op == "!~" and re.fullmatch(val, have):
            return False
    return True


def extrapolated_rate(points, range_s, t_ms, is_rate):
    """promql/functions.go extrapolatedRate (Prometheus 2.x), counters.
    points: [(t_ms, value)] of the range ending at t_ms."""
    if len(points) < 2:
        return None
    first_t, first_v = points[0]
    last_t, last_v = points[-1]
    result = last_v - first_v
    prev = 0.0
    for _, v in points:
        if v < prev:
            result += prev
        prev = v
    range_start = t_ms - range_s * 1000
    to_start = (first_t - range_start) / 1000
    to_end = (t_ms - last_t) / 1000
    sampled = (last_t - first_t) / 1000
    avg = sampled / (len(points) - 1)
    if result > 0 and first_v >= 0:
        to_zero = sampled * (first_v / result)
        if to_zero < to_start:
            to_start = to_zero
    threshold = avg * 1.1
    interval = sampled
    interval += to_start if to_start < threshold else avg / 2
    interval += to_end if to_end < threshold else avg / 2
    result = result * (interval / sampled)
    if is_rate:
        result /= range_s
    return result


def _key(labels):
    return frozenset(labels.items())


def _drop_name(labels):
    return {k: v for k, v in labels.items() if k != "__name__"}


class Evaluator:
    """Evaluates a parsed expression into [(labels dict, value)] or a float."""

    def __init__(self, instant, samples, t_ms):
        self.instant = instant
        self.samples = samples
        self.t_ms = t_ms

    def eval(self, text):
        return self.node(Parser(text).parse())

    def node(self, n):
        kind = n[0]
        if kind == "num":
            return n[1]
        if kind == "sel":
            return [(dict(lab, __name__=n[1]), v)
                    for lab, v in self.instant(n[1], n[2])]
        if kind == "func":
            _, fn, name, matchers, text, range_s = n
            out = []
            for lab, pts in self.samples(text, name, matchers, range_s):
                if fn == "max_over_time":
                    out.append((_drop_name(lab), max(v for _, v in pts)))
                    continue
                v = extrapolated_rate(pts, range_s, self.t_ms, fn == "rate")
                if v is not None:
                    out.append((_drop_name(lab), v))
            return out
        if kind == "agg":
            return self.aggregate(n)
        if kind == "vector":
            v = self.node(n[1])
            if isinstance(v, list):
                raise Unsupported("vector() of a vector")
            return [({}, float(v))]
        if kind == "bin" and n[1] == "or":
            return self.union(self.node(n[2]), self.node(n[3]))
        if kind == "bin":
            return self.binary(n[1], self.node(n[2]), self.node(n[3]))
        raise Unsupported(kind)

    def aggregate(self, n):
        _, op, mode, labels, k, sub = n
        vec = self.node(sub)
        if not isinstance(vec, list):
            raise Unsupported("aggregation of a scalar")
        if op in KAGGS:
            if mode:
                raise Unsupported("topk by")
            rev = op == "topk"
            return sorted(vec, key=lambda s: s[1], reverse=rev)[:k]
        groups = {}
        for lab, v in vec:
            if mode == "by":
                g = {l: lab[l] for l in labels if l in lab}
            elif mode == "without":
                g = {l: x for l, x in _drop_name(lab).items() if l not in labels}
            else:
                g = {}
            groups.setdefault(_key(g), (g, []))[1].append(v)
        fn = {"sum": sum, "max": max, "min": min, "count": len,
              "avg": lambda xs: sum(xs) / len(xs)}[op]
        return [(g, float(fn(vs))) for g, vs in groups.values()]

    @staticmethod
    def union(a, b):
        """`a or b`: all of a, and the samples of b whose labels (but the
        name) match none in a."""
        if not isinstance(a, list) or not isinstance(b, list):
            raise Unsupported("or with a scalar")
        left = {_key(_drop_name(lab)) for lab, _ in a}
        return a + [(lab, v) for lab, v in b
                    if _key(_drop_name(lab)) not in left]

    def binary(self, op, a, b):
        def apply(x, y):
            return {"+": lambda: x + y, "-": lambda: x - y,
                    "*": lambda: x * y, "/": lambda: x / y if y else float("nan"),
                    "==": lambda: x == y, "!=": lambda: x != y,
                    ">": lambda: x > y, "<": lambda: x < y,
                    ">=": lambda: x >= y, "<=": lambda: x <= y}[op]()
        a_vec, b_vec = isinstance(a, list), isinstance(b, list)
        if not a_vec and not b_vec:
            if op in CMP:
                raise Unsupported("scalar comparison without bool")
            return apply(a, b)
        if a_vec and b_vec:
            right = {}
            for lab, v in b:
                k = _key(_drop_name(lab))
                if k in right:
                    raise Unsupported("many-to-one match on the right")
                right[k] = v
            out, seen = [], set()
            for lab, v in a:
                k = _key(_drop_name(lab))
                if k in seen:
                    raise Unsupported("many-to-one match on the left")
                seen.add(k)
                if k not in right:
                    continue
                out.append(self._result(op, lab, v, right[k], apply))
            return [s for s in out if s is not None]
        vec, scalar, vec_left = (a, b, True) if a_vec else (b, a, False)
        out = []
        for lab, v in vec:
            r = apply(v, scalar) if vec_left else apply(scalar, v)
            if op in CMP:
                # A filter keeps the vector's sample, name included.
                if r:
                    out.append((lab, v))
            else:
                out.append((_drop_name(lab), float(r)))
        return out

    @staticmethod
    def _result(op, lab, x, y, apply):
        r = apply(x, y)
        if op in CMP:
            # A filter keeps the left sample, name included.
            return (lab, x) if r else None
        return (_drop_name(lab), float(r))
