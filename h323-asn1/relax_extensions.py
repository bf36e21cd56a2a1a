"""Makes every mandatory extension addition of src/generated.rs optional.

X.691 lets an older peer leave out extension additions its version of a
type does not have, even ones the newer version makes mandatory (e.g.
GatekeeperRequest.supportsAssignedGK, H2250LogicalChannelAckParameters.
flowControlToZero). rasn refuses such messages when the field is a plain
value, so each one becomes Option<T> (and so does its `new` parameter).
Fields with a DEFAULT already decode when absent and are left alone.
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
print(f"relaxed {sum(map(len, relaxed.values()))} fields in {len(relaxed)} types", file=sys.stderr)
