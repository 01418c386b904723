"""``shufflenet data stats``: what an image folder holds, checked before a run is spent on it."""

from __future__ import annotations

import argparse

from rich.console import Console

from shufflenet.cli.common import progress_bar, stderr_console, styled
from shufflenet.cli.render import FORMATS, render
from shufflenet.utils.tables import byte_size

__all__ = ["add_commands"]


#: the training sides whose in-memory size `data stats` gives (Fashion-MNIST-like, small photos, ImageNet's)
IN_MEMORY_SIDES = (64, 128, 224)


def _cmd_stats(args: argparse.Namespace, console: Console) -> int:
    from shufflenet.data.folders import folder_stats

    err = stderr_console()
    with progress_bar(console=err) as bar:
        task = bar.add_task("reading images", total=None)
        stats = folder_stats(args.dir, in_chans=args.in_chans, max_sampled=args.sample,
                             progress=lambda done, total: bar.update(task, completed=done, total=total))  # fmt: skip
    problems = [f"unreadable: {u}" for u in stats.unreadable] + [f"not an image: {f}" for f in stats.other_files]
    problems += [f"not in a class folder: {f}" for f in stats.loose_files]
    problems += [f"empty class folder: {c}" for c in stats.empty_classes]
    for line in problems[: args.show]:
        err.print(styled("yellow", "warning:", line), highlight=False)
    if len(problems) > args.show:
        err.print(styled("yellow", "warning:", f"... and {len(problems) - args.show} more"), highlight=False)
    sizes = ", ".join(f"{w}x{h} ({n})" for (w, h), n in stats.sizes.most_common(3))
    record = {
        "root": stats.root, "classes": len(stats.class_counts), "images": stats.images,
        "class_counts": stats.class_counts, "sizes": {f"{w}x{h}": n for (w, h), n in stats.sizes.most_common()},
        "modes": dict(stats.modes), "mean": stats.mean, "std": stats.std, "sampled": stats.sampled,
        "unreadable": stats.unreadable, "other_files": stats.other_files, "loose_files": stats.loose_files,
        "empty_classes": stats.empty_classes,
    }  # fmt: skip
    rows = [[c, str(n)] for c, n in stats.class_counts.items()]
    rows += [
        ["(all)", str(stats.images)],
        ["sizes", sizes],
        ["modes", ", ".join(f"{m} ({n})" for m, n in stats.modes.items())],
    ]
    if stats.mean:
        flags = f"--mean {','.join(map(str, stats.mean))} --std {','.join(map(str, stats.std))}"
        rows.append([f"mean/std ({stats.sampled} images)", flags])
    held = {side: stats.images * args.in_chans * side * side for side in IN_MEMORY_SIDES}  # uint8, decoded once
    record["in_memory_bytes"] = held
    rows.append(["train --in-memory", ", ".join(f"{byte_size(n)} at {side} px" for side, n in held.items())])
    rows.append(["skipped", f"{len(stats.unreadable)} unreadable, {len(stats.other_files)} not images"])
    render(console, args.format, ["class", "images"], rows, title=f"{stats.root}: {len(stats.class_counts)} classes",
           records=record)  # fmt: skip
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="check an image folder before training on it")
    data = p.add_subparsers(dest="data_command", required=True, metavar="{stats}")
    s = data.add_parser("stats", help="images per class, sizes, mean/std to use, and every unreadable file")
    s.add_argument("dir", help="ImageFolder root: DIR/CLASS_NAME/IMAGE.png")
    s.add_argument("--in-chans", type=int, choices=(1, 3), default=3, help="read images as grey (1) or RGB (3)")
    s.add_argument("--sample", type=int, default=2000, metavar="N", help="images decoded for mean/std (default 2000)")
    s.add_argument("--show", type=int, default=10, metavar="N", help="problems listed one per line (default 10)")
    s.add_argument("--format", choices=FORMATS, default="table", help="output format (default table)")
    s.set_defaults(func=_cmd_stats)
