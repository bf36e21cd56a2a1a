"""Mends two things rasn 0.30 gets wrong about extension additions in
src/generated.rs.

1. X.691 lets an older peer leave out extension additions its version of a
   type does not have, even ones the newer version makes mandatory (e.g.
   GatekeeperRequest.supportsAssignedGK, H2250LogicalChannelAckParameters.
   flowControlToZero). rasn refuses such messages when the field is a plain
   value, so each one becomes Option<T> (and so does its `new` parameter).
   Fields with a DEFAULT already decode when absent and are left alone.
2. rasn encodes and decodes an extension addition whose type is a
   constrained delegate (TimeToLive, EndpointIdentifier, BandWidth, ...)
   without the type's constraints: a 120 s timeToLive goes out as an
   unconstrained integer that every other stack reads as 121, and an
   endpointIdentifier's length is misread. The delegate's constraints are
   copied onto each such field, where rasn does apply them.
"""
import re
import sys

path = sys.argv[1]
lines = open(path).read().split("\n")
relaxed = {}  # struct name -> field names
struct = None
i = 0
while i < len(lines):
    m = re.match(r"\s*pub struct (\w+) \{", lines[i])
    if m:
        struct = m.group(1)
    attr = lines[i].strip()
    if attr.startswith("#[rasn(") and "extension_addition" in attr and "default" not in attr:
        j = i + 1
        while lines[j].strip().startswith("#["):
            j += 1
        f = re.match(r"(\s*pub (\w+): )(.+),$", lines[j])
        if f and not f.group(3).startswith("Option<"):
            lines[j] = f"{f.group(1)}Option<{f.group(3)}>,"
            relaxed.setdefault(struct, set()).add(f.group(2))
    i += 1

text = "\n".join(lines)

delegates = {
    m.group(2): re.sub(r"\s+", " ", m.group(1)).rstrip(", ")
    for m in re.finditer(r"#\[rasn\(delegate,\s*(.*?)\)\]\s*pub struct (\w+)\(pub ", text, flags=re.S)
}


constrained = 0


def constrain(m):
    global constrained
    attr, field, ty = m.group(1), m.group(2), m.group(4)
    if ty not in delegates or re.search(r"\b(value|size|from)\(", attr):
        return m.group(0)
    constrained += 1
    return f"#[rasn({attr}, {delegates[ty]})]\n{field}"


text = re.sub(
    r"#\[rasn\((extension_addition[^\]]*?)\)\]\n(\s*pub (\w+): Option<(\w+)>,)",
    constrain,
    text,
)


def constructor(m):
    fields = relaxed.get(m.group(1), set())
    params = re.sub(
        r"\b(\w+): ([^,()]+(?:<[^()]*?>)?)(,|$)",
        lambda p: f"{p.group(1)}: Option<{p.group(2)}>{p.group(3)}"
        if p.group(1) in fields and not p.group(2).startswith("Option<")
        else p.group(0),
        m.group(2),
    )
    return m.group(0).replace(m.group(2), params)


text = re.sub(r"impl (\w+) \{\s*pub fn new\((.*?)\) -> Self", constructor, text, flags=re.S)
open(path, "w").write(text)
print(
    f"relaxed {sum(map(len, relaxed.values()))} fields in {len(relaxed)} types, "
    f"constrained {constrained} delegate-typed additions",
    file=sys.stderr,
)
