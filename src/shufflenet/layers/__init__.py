"""Building blocks shared by every network in the package."""

from shufflenet.layers.conv_bn_act import RELU, ConvBnAct, check_groups, pw_group_conv
from shufflenet.layers.deploy import deploy, traceable
from shufflenet.layers.fuse import fuse_conv_bn
from shufflenet.layers.pointwise import PointwiseConv2d
from shufflenet.layers.se import SqueezeExcite, make_divisible
from shufflenet.layers.shuffle import (
    ChannelShuffle,
    channel_shuffle,
    check_nchw,
    concat_shuffle,
    concat_shuffle_split,
    split_channels,
)

__all__ = [
    "RELU",
    "ChannelShuffle",
    "ConvBnAct",
    "PointwiseConv2d",
    "SqueezeExcite",
    "channel_shuffle",
    "check_groups",
    "check_nchw",
    "concat_shuffle",
    "concat_shuffle_split",
    "deploy",
    "fuse_conv_bn",
    "make_divisible",
    "pw_group_conv",
    "split_channels",
    "traceable",
]
