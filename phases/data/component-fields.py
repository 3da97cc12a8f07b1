#!/usr/bin/env python3
"""Generates component-fields.tsv: every field of the KubeletConfiguration
(kubelet.config.k8s.io/v1beta1) and the KubeProxyConfiguration (kubeproxy.config.k8s.io/v1alpha1),
with its JSON type and the Kubernetes versions whose Go types have it.
Arguments `--note=TEXT` add a comment line to the output (say where each version's files came from).

Input: the Go sources of each version, as `LABEL=FILE,FILE,...` arguments, e.g. for v1.20
  v1.20=staging/src/k8s.io/kubelet/config/v1beta1/types.go,\
staging/src/k8s.io/kube-proxy/config/v1alpha1/types.go,\
staging/src/k8s.io/component-base/config/v1alpha1/types.go,staging/src/k8s.io/api/core/v1/types.go
and for a newer tree the same plus staging/src/k8s.io/component-base/logs/api/v1/types.go and
staging/src/k8s.io/component-base/tracing/api/v1/types.go. Output on stdout.

Types: string, bool, int32, int64, uint32, float, duration (a Go duration string), nanoseconds
(a duration string or an integer of nanoseconds), quantity (a string or a number), time,
struct, list<T>, map<T>. A list of structs has its fields under `path[]`.
"""
import re
import sys

ROOTS = [
    ("KubeletConfiguration", "KubeletConfiguration"),
    ("KubeProxyConfiguration", "KubeProxyConfiguration"),
]

SPECIAL = {
    "metav1.Duration": "duration",
    "TimeOrMetaDuration": "nanoseconds",
    "resource.Quantity": "quantity",
    "resource.QuantityValue": "quantity",
    "v1.ResourceList": "map<quantity>",
    "metav1.Time": "time",
    "*metav1.Time": "time",
}
PRIMITIVE = {
    "string": "string",
    "bool": "bool",
    "int": "int64",
    "int32": "int32",
    "int64": "int64",
    "uint32": "uint32",
    "float32": "float",
    "float64": "float",
}

FIELD = re.compile(r'^\s*(\w+)\s+(\S+)\s+`json:"([^"]*)"')
EMBED = re.compile(r'^\s*(\S+)\s+`json:"([^"]*)"')


def parse(files):
    """struct name -> [(json name or None for inline, go type)], alias name -> go type."""
    structs, aliases = {}, {}
    for path in files:
        text = open(path, encoding="utf-8").read()
        text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
        text = re.sub(r"//[^\n]*", "", text)
        current = None
        for line in text.splitlines():
            m = re.match(r"^type (\w+) struct \{", line)
            if m:
                if m.group(1) in structs:
                    sys.exit(f"{m.group(1)} is defined twice: give each version one package's types")
                current = structs[m.group(1)] = []
                continue
            if current is not None:
                if line.startswith("}"):
                    current = None
                    continue
                m = FIELD.match(line)
                if m:
                    name = m.group(3).split(",")[0]
                    if name != "-":
                        current.append((name or None, m.group(2)))
                    continue
                m = EMBED.match(line)
                if m and m.group(1) != "metav1.TypeMeta":
                    current.append((None, m.group(1)))
                continue
            m = re.match(r"^type (\w+) (\S+)\s*$", line)
            if m:
                aliases[m.group(1)] = m.group(2)
    return structs, aliases


def walk(structs, aliases, go_type, path, out):
    """Appends (path, type) for a field of `go_type` and everything below it."""
    t = go_type.lstrip("*")
    if go_type in SPECIAL or t in SPECIAL:
        out.append((path, SPECIAL.get(go_type) or SPECIAL[t]))
        return
    bare = t.split(".")[-1]
    if bare in aliases and bare not in structs and t not in SPECIAL:
        walk(structs, aliases, aliases[bare], path, out)
        return
    if t in PRIMITIVE:
        out.append((path, PRIMITIVE[t]))
        return
    if t.startswith("[]"):
        inner = []
        walk(structs, aliases, t[2:], path + "[]", inner)
        elem = inner[0][1] if inner else "string"
        out.append((path, f"list<{elem}>"))
        out.extend(inner[1:] if elem == "struct" else [])
        return
    m = re.match(r"^map\[string\](.+)$", t)
    if m:
        inner = []
        walk(structs, aliases, m.group(1), path + "{}", inner)
        out.append((path, f"map<{inner[0][1]}>"))
        return
    if bare in structs:
        out.append((path, "struct"))
        for name, field_type in structs[bare]:
            if name is None:  # inline: the fields sit at this level
                sub = []
                walk(structs, aliases, field_type, path, sub)
                out.extend(sub[1:])
            else:
                walk(structs, aliases, field_type, f"{path}.{name}" if path else name, out)
        return
    sys.exit(f"unknown Go type {go_type} at {path}")


def main():
    versions, notes = [], []
    for arg in sys.argv[1:]:
        if arg.startswith("--note="):
            notes.append(arg[len("--note="):])
            continue
        label, files = arg.split("=", 1)
        structs, aliases = parse(files.split(","))
        fields = {}
        for kind, root in ROOTS:
            out = []
            walk(structs, aliases, root, "", out)
            for path, typ in out[1:]:
                fields[(kind, path)] = typ
        versions.append((label, fields))
    print("# Fields of the component configs kubestrap checks; generated by component-fields.py")
    print("# from the Go types of kubelet.config.k8s.io/v1beta1 and kubeproxy.config.k8s.io/v1alpha1.")
    for note in notes:
        print(f"# {note}")
    print("# kind<TAB>path<TAB>type<TAB>versions whose types have the field (" +
          ", ".join(label for label, _ in versions) + ")")
    keys = sorted({k for _, fields in versions for k in fields})
    for kind, path in keys:
        types = {fields[(kind, path)] for _, fields in versions if (kind, path) in fields}
        # A field whose type changed keeps the newest one (the last version given).
        typ = next(fields[(kind, path)] for _, fields in reversed(versions) if (kind, path) in fields)
        if len(types) > 1:
            print(f"# {kind} {path}: type differs between versions ({', '.join(sorted(types))})")
        have = ",".join(label for label, fields in versions if (kind, path) in fields)
        print(f"{kind}\t{path}\t{typ}\t{have}")


main()
