"""``shufflenet models``, ``compare`` and ``profile``: params, FLOPs and MAC, beside the papers' figures."""

from __future__ import annotations

import argparse
import fnmatch
from dataclasses import asdict

import torch
from rich.console import Console

from shufflenet.cli.common import CliError, add_shape_args, input_shape
from shufflenet.cli.render import render
from shufflenet.complexity import analyze
from shufflenet.models import create_model, get_entry, list_models, list_pretrained
from shufflenet.models.zoo import SUMMARY_HEADERS, summarize_models

__all__ = ["add_commands"]


def _print_summaries(names: list[str], args: argparse.Namespace, console: Console, title: str) -> None:
    summaries = summarize_models(names, input_shape(args), small_input=args.small_input)
    rows = [s.as_row() for s in summaries]
    records = [dict(zip(SUMMARY_HEADERS, s.as_row(exact=True))) for s in summaries]
    # the papers counted at 224x224 on ImageNet whatever size ours are counted at
    title += f" @ {args.img_size}x{args.img_size} (FLOPs = multiply-adds; paper_*: ImageNet, 224x224)"
    render(console, args.format, SUMMARY_HEADERS, rows, title=title, records=records)


def _cmd_models(args: argparse.Namespace, console: Console) -> int:
    if args.pretrained:
        return _list_pretrained(args, console)
    names = list_models(args.pattern)
    if not names:
        raise CliError(f"no model matches {args.pattern!r}; run `shufflenet models` to list them all")
    _print_summaries(names, args, console, f"{len(names)} models")
    return 0


def _list_pretrained(args: argparse.Namespace, console: Console) -> int:
    tags = [p for p in list_pretrained() if fnmatch.fnmatchcase(p.model, args.pattern)]
    if not tags:
        raise CliError(f"no pretrained weights for a model matching {args.pattern!r}; `shufflenet models --pretrained`")
    headers = ["model", "tag", "dataset", "top1", "params", "source"]
    rows = [[p.model, p.tag, p.dataset, "" if p.top1 is None else f"{p.top1:.2f}", f"{p.params / 1e6:.2f}M", p.source]
            for p in tags]  # fmt: skip
    title = "pretrained weights: create_model(MODEL, pretrained=TAG), MODEL:TAG in the CLI (top1: test set, %)"
    render(console, args.format, headers, rows, title=title, records=[asdict(p) for p in tags])
    return 0


def _cmd_compare(args: argparse.Namespace, console: Console) -> int:
    for name in args.models:
        get_entry(name)  # unknown names fail before any work
    _print_summaries(args.models, args, console, "side by side")
    return 0


def _cmd_profile(args: argparse.Namespace, console: Console) -> int:
    size = input_shape(args)
    with torch.device("meta"):  # shapes only: instant, and no memory for any input size
        model = create_model(args.model, in_chans=args.in_chans, small_input=args.small_input)
    report = analyze(model, size, name=args.model)
    if args.format == "json":
        console.out(report.to_json(), end="\n")
    elif args.format == "csv":
        console.out(report.to_csv(), end="")
    elif args.format == "md":
        console.out(report.to_markdown(per_layer=not args.summary), end="")
    else:
        console.print(*report.to_rich(per_layer=not args.summary))
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list registered models with params, FLOPs, MAC and paper figures")
    p.add_argument("pattern", nargs="?", default="*", help="shell-style filter, e.g. 'shufflenet_v2*'")
    p.add_argument("--pretrained", action="store_true", help="list the pretrained weights (tags) instead, with top-1")
    add_shape_args(p)
    p.set_defaults(func=_cmd_models)

    p = sub.add_parser("compare", help="side-by-side params, FLOPs and MAC of several models")
    p.add_argument("models", nargs="+", metavar="MODEL", help="registered model names")
    add_shape_args(p)
    p.set_defaults(func=_cmd_compare)

    p = sub.add_parser("profile", help="per-layer params, FLOPs and MAC of one model")
    p.add_argument("model", help="registered model name (see `shufflenet models`)")
    p.add_argument("--summary", action="store_true", help="totals by operator type only")
    add_shape_args(p)
    p.set_defaults(func=_cmd_profile)
