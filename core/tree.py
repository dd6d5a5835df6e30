"""Minimal pytrees: tuples, lists and dicts of tensors (and None), as transforms see them."""


def flatten(tree):
    """(leaves, rebuild): leaves in order, and a function building the same structure back."""
    if isinstance(tree, (tuple, list)):
        parts = [flatten(t) for t in tree]
        leaves = [leaf for p in parts for leaf in p[0]]
        sizes = [len(p[0]) for p in parts]
        kind = type(tree)

        def rebuild(new):
            out, i = [], 0
            for (_, sub), n in zip(parts, sizes):
                out.append(sub(new[i:i + n]))
                i += n
            return kind(out) if kind in (tuple, list) else kind(*out)
        return leaves, rebuild
    if isinstance(tree, dict):
        keys = list(tree)
        leaves, rebuild_values = flatten([tree[k] for k in keys])
        return leaves, lambda new: dict(zip(keys, rebuild_values(new)))
    if tree is None:
        return [], lambda new: None
    return [tree], lambda new: new[0]


def tree_map(fn, tree, *rest):
    leaves, rebuild = flatten(tree)
    others = [flatten(r)[0] for r in rest]
    return rebuild([fn(*xs) for xs in zip(leaves, *others)])
