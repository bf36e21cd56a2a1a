"""Adds a builder layer to src/generated.rs: for every SEQUENCE with
optional fields, `X::required(..)` takes only the fields the type
requires (every optional one absent), and `with_<field>(value)` sets an
optional field (a value or an Option), so that building a message names
only the fields that matter instead of a long run of `None`s in `new`.
"""
import re
import sys

path = sys.argv[1]
text = open(path).read()


def split_params(params):
    """`name: Type,` parameters, split at commas outside angle brackets."""
    out, depth, cur = [], 0, ""
    for ch in params:
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        out.append(cur)
    fields = []
    for p in out:
        name, ty = p.split(":", 1)
        fields.append((name.strip(), re.sub(r"\s+", " ", ty.strip())))
    return fields


def builder(struct, fields):
    required = [(n, t) for n, t in fields if not t.startswith("Option<")]
    optional = [(n, t) for n, t in fields if t.startswith("Option<")]
    params = ", ".join(f"{n}: {t}" for n, t in required)
    inits = ", ".join([n for n, _ in required] + [f"{n}: None" for n, _ in optional])
    setters = "\n".join(
        f"        pub fn with_{n}(mut self, {n}: impl Into<{t}>) -> Self {{ self.{n} = {n}.into(); self }}"
        for n, t in optional
    )
    return (
        f"    impl {struct} {{\n"
        f"        /// Only the required fields; every optional one absent (set with `with_*`).\n"
        f"        pub fn required({params}) -> Self {{ Self {{ {inits} }} }}\n"
        f"{setters}\n"
        f"    }}\n"
    )


pattern = re.compile(r"    impl (\w+) \{\n        pub fn new\(\n(.*?)\) -> Self \{", re.S)
pieces, last, added = [], 0, 0
for m in pattern.finditer(text):
    fields = split_params(m.group(2))
    if not any(t.startswith("Option<") for _, t in fields):
        continue
    pieces.append(text[last : m.start()])
    pieces.append(builder(m.group(1), fields))
    last = m.start()
    added += 1
pieces.append(text[last:])
open(path, "w").write("".join(pieces))
print(f"builders for {added} types", file=sys.stderr)
