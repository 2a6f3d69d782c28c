#!/usr/bin/env python3
"""CEL conformance: runs google/cel-spec's simple tests (tests/simple/testdata/*.textproto) through
Courier's CEL evaluator (the CELConformance runner, JSON lines on stdin/stdout) and reports the pass
rate per file and overall.

Usage: conformance.py TESTDATA_DIR RUNNER [--min PERCENT] [--show-failures]
(TESTDATA_DIR holds the *.textproto files of cel-spec/tests/simple/testdata.)

Counted: every test of the core-language files below except those about protobuf messages
(TestAllTypes, wrapper and Struct/Any/Value types, proto containers, enums) and check-only tests
(type deduction without evaluation; Courier has no static type checker). What is left out is
counted and printed, not hidden."""
import json
import re
import subprocess
import sys

FILES = ["basic", "comparisons", "conversions", "dynamic", "fields", "fp_math", "integer_math", "lists",
         "logic", "macros", "macros2", "namespace", "parse", "plumbing", "string", "timestamps"]
# Not counted: the *_ext files test cel-go extension libraries that Dapr's CEL environment does not
# enable; proto2/proto3/wrappers/enums are protobuf messages; optionals and unknowns are features
# outside Dapr's routing; type_deduction is check-only.
PROTO_MARKERS = ["TestAllTypes", "NestedTestAllTypes", "cel.expr.conformance", "google.protobuf.Any",
                 "google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue",
                 "google.protobuf.Int32Value", "google.protobuf.Int64Value", "google.protobuf.UInt32Value",
                 "google.protobuf.UInt64Value", "google.protobuf.FloatValue", "google.protobuf.DoubleValue",
                 "google.protobuf.BoolValue", "google.protobuf.StringValue", "google.protobuf.BytesValue",
                 "google.protobuf.Empty", "google.protobuf.FieldMask", "GlobalEnum", "TestRequired"]

# --- a small textproto reader -------------------------------------------------------------------

TOKEN = re.compile(r'''\s+|\#[^\n]*|(?P<str>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')|(?P<ext>\[[^\]\s]+\])|(?P<word>[-+]?[A-Za-z0-9_.+-]+)|(?P<p>[{}<>:\[\],;])''', re.S)


def tokens(text):
    pos = 0
    out = []
    while pos < len(text):
        m = TOKEN.match(text, pos)
        if not m:
            raise ValueError(f"cannot read textproto at {text[pos:pos + 40]!r}")
        pos = m.end()
        for kind in ("str", "ext", "word", "p"):
            if m.group(kind) is not None:
                out.append((kind, m.group(kind)))
    return out


def unescape(quoted):
    body = quoted[1:-1]
    out = bytearray()
    i = 0
    simple = {"n": 10, "t": 9, "r": 13, "\\": 92, "'": 39, '"': 34, "a": 7, "b": 8, "f": 12, "v": 11, "?": 63}
    while i < len(body):
        c = body[i]
        if c != "\\":
            out += c.encode("utf-8")
            i += 1
            continue
        n = body[i + 1]
        if n in simple:
            out.append(simple[n])
            i += 2
        elif n in "01234567" or n in "xX":
            # \ooo (up to three octal digits) or \xhh (up to two hex digits): one byte.
            start, base = (i + 1, 8) if n in "01234567" else (i + 2, 16)
            allowed = "01234567" if base == 8 else "0123456789abcdefABCDEF"
            j = start
            while j < len(body) and j < i + 4 and body[j] in allowed:
                j += 1
            out.append(int(body[start:j], base))
            i = j
        elif n == "u":
            out += chr(int(body[i + 2:i + 6], 16)).encode("utf-8")
            i += 6
        elif n == "U":
            out += chr(int(body[i + 2:i + 10], 16)).encode("utf-8")
            i += 10
        else:
            raise ValueError(f"unknown escape \\{n}")
    return bytes(out)


class Reader:
    def __init__(self, toks):
        self.toks = toks
        self.i = 0

    def peek(self):
        return self.toks[self.i] if self.i < len(self.toks) else (None, None)

    def take(self):
        t = self.toks[self.i]
        self.i += 1
        return t

    def message(self, close=None):
        fields = {}
        while True:
            kind, text = self.peek()
            if kind is None or (kind == "p" and text == close):
                if close:
                    self.take()
                return fields
            if kind == "p" and text in ",;":
                self.take()
                continue
            name = self.take()[1]
            if self.peek() == ("p", ":"):
                self.take()
            for value in self.values():
                fields.setdefault(name, []).append(value)

    def values(self):
        kind, text = self.peek()
        if kind == "p" and text in "{<":
            self.take()
            return [self.message("}" if text == "{" else ">")]
        if kind == "p" and text == "[":
            self.take()
            out = []
            while self.peek() != ("p", "]"):
                if self.peek() == ("p", ","):
                    self.take()
                    continue
                out += self.values()
            self.take()
            return out
        if kind == "str":
            data = b""
            while self.peek()[0] == "str":
                data += unescape(self.take()[1])
            return [data]
        return [self.take()[1]]


def parse(text):
    return Reader(tokens(text)).message()

# --- expected values as the runner's typed JSON -------------------------------------------------


class Skip(Exception):
    pass


def number(word):
    w = word.lower()
    if w in ("inf", "infinity", "+inf"):
        return "Infinity"
    if w in ("-inf", "-infinity"):
        return "-Infinity"
    if w == "nan":
        return "NaN"
    return float(word)


def typed(value):
    (kind, [v]), = value.items() if len(value) == 1 else [(None, [None])]
    if kind == "int64_value":
        return {"int64": str(int(v, 0))}
    if kind == "uint64_value":
        return {"uint64": str(int(v, 0))}
    if kind == "double_value":
        return {"double": number(v)}
    if kind == "string_value":
        return {"string": v.decode("utf-8")}
    if kind == "bytes_value":
        return {"bytes": list(v)}
    if kind == "bool_value":
        return {"bool": v == "true"}
    if kind == "null_value":
        return {"null": None}
    if kind == "type_value":
        return {"type": v.decode() if isinstance(v, bytes) else v}
    if kind == "list_value":
        return {"list": [typed(x) for x in v.get("values", [])]}
    if kind == "map_value":
        return {"map": [[typed(e["key"][0]), typed(e["value"][0])] for e in v.get("entries", [])]}
    if kind == "object_value":
        (url, [body]), = v.items()
        secs = int(body.get("seconds", ["0"])[0])
        nanos = int(body.get("nanos", ["0"])[0])
        if url.endswith("google.protobuf.Timestamp]"):
            return {"timestamp": [secs, nanos]}
        if url.endswith("google.protobuf.Duration]"):
            return {"duration": secs * 1_000_000_000 + nanos}
        raise Skip("protobuf message value")
    raise Skip(f"value kind {kind}")


def canonical(t):
    """A hashable form; maps compare without order, NaN equals NaN (as the conformance runners do)."""
    (kind, v), = t.items()
    if kind == "list":
        return ("list", tuple(canonical(x) for x in v))
    if kind == "map":
        return ("map", frozenset((canonical(k), canonical(x)) for k, x in v))
    if kind == "double":
        return ("double", v if isinstance(v, str) else float(v))
    if kind in ("timestamp", "bytes"):
        return (kind, tuple(v))
    return (kind, v if not isinstance(v, list) else tuple(v))

# --- the run ------------------------------------------------------------------------------------


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    spec_dir, runner = args[0], args[1]
    minimum = None
    if "--min" in sys.argv:
        minimum = float(sys.argv[sys.argv.index("--min") + 1])
        args = [a for a in args if a != sys.argv[sys.argv.index("--min") + 1]]
    show = "--show-failures" in sys.argv
    cases = []
    skipped = {}
    for name in FILES:
        doc = parse(open(f"{spec_dir}/{name}.textproto", encoding="utf-8").read())
        for section in doc.get("section", []):
            for test in section.get("test", []):
                label = f"{name}/{section['name'][0].decode()}/{test['name'][0].decode()}"
                expr = test["expr"][0].decode("utf-8")
                try:
                    text = expr + json.dumps({k: str(v) for k, v in test.items()})
                    if any(m in text for m in PROTO_MARKERS) or "container" in test or "type_env" in test:
                        raise Skip("protobuf messages")
                    if test.get("check_only", ["false"])[0] == "true":
                        raise Skip("check only")
                    bindings = {}
                    for b in test.get("bindings", []):
                        bindings[b["key"][0].decode()] = typed(b["value"][0]["value"][0])
                    if "eval_error" in test or "any_eval_errors" in test:
                        expected = "error"
                    elif "unknown" in test or "any_unknowns" in test:
                        raise Skip("unknowns")
                    elif "value" in test:
                        expected = typed(test["value"][0])
                    elif "typed_result" in test:
                        expected = typed(test["typed_result"][0]["result"][0])
                    else:
                        expected = {"bool": True}
                except Skip as why:
                    skipped[str(why)] = skipped.get(str(why), 0) + 1
                    continue
                cases.append((name, label, expr, bindings, expected))

    def run(batch):
        proc = subprocess.run([runner], input="".join(json.dumps({"expr": c[2], "bindings": c[3]}) + "\n" for c in batch),
                              capture_output=True, text=True)
        return proc.returncode, [json.loads(line) for line in proc.stdout.splitlines()]

    status, answers = run(cases)
    crashes = []
    if status != 0:
        # The evaluator died: run each test alone to name the ones that crash it (a failure each).
        answers = []
        for case in cases:
            status, one = run([case])
            if status != 0:
                crashes.append(case[1])
                one = [{"crash": f"runner died with status {status}"}]
            answers += one
    assert len(answers) == len(cases), f"{len(answers)} answers for {len(cases)} tests"
    per_file = {}
    failures = []
    for (name, label, expr, _, expected), answer in zip(cases, answers):
        if expected == "error":
            ok = "error" in answer
        else:
            ok = "value" in answer and canonical(answer["value"]) == canonical(expected)
        passed, total = per_file.get(name, (0, 0))
        per_file[name] = (passed + ok, total + 1)
        if not ok:
            failures.append((label, expr, expected, answer))
    total = sum(t for _, t in per_file.values())
    passed = sum(p for p, _ in per_file.values())
    for name in FILES:
        p, t = per_file.get(name, (0, 0))
        print(f"  {name:14} {p:4} / {t:4}")
    print(f"CEL conformance (cel-spec simple tests): {passed} / {total} passed ({100 * passed / total:.1f} %); "
          f"not run: {sum(skipped.values())} ({', '.join(f'{k} {v}' for k, v in sorted(skipped.items()))}); "
          "files not counted: the *_ext, proto, optionals, unknowns and type_deduction files")
    for label in crashes:
        print(f"CRASH {label}")
    if show:
        for label, expr, expected, answer in failures:
            print(f"FAIL {label}: {expr}\n     expected {expected}\n     got      {answer}")
    if crashes:
        print(f"FAIL: {len(crashes)} expression(s) crash the evaluator")
        sys.exit(1)
    if minimum is not None and 100 * passed / total < minimum:
        print(f"FAIL: below the {minimum} % floor")
        sys.exit(1)


main()
