"""Compile a LightGBM model into the ONNX graph that `OnnxTreePredictor` runs.

One TreeEnsembleRegressor (ai.onnx.ml opset 3) with double thresholds and 1 + g targets:
target 0 is each leaf's value; target 1 + j is the Saabas contribution of reason group j
along the path from the root to that leaf (the change in node value at each split, credited
to the group of the split feature). Summed over trees by onnxruntime, that gives the logit
and its per-group explanation in one pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


@dataclass
class _Nodes:
    tree: list[int] = field(default_factory=list)
    node: list[int] = field(default_factory=list)
    feature: list[int] = field(default_factory=list)
    threshold: list[float] = field(default_factory=list)
    mode: list[str] = field(default_factory=list)
    true_id: list[int] = field(default_factory=list)
    false_id: list[int] = field(default_factory=list)
    target_tree: list[int] = field(default_factory=list)
    target_node: list[int] = field(default_factory=list)
    target_id: list[int] = field(default_factory=list)
    target_weight: list[float] = field(default_factory=list)


def _add_tree(nodes: _Nodes, tree_id: int, root: dict[str, Any], groups: np.ndarray) -> None:
    counter = iter(range(1 << 30))

    def visit(node: dict[str, Any], path_contribution: np.ndarray) -> int:
        node_id = next(counter)
        position = len(nodes.node)
        nodes.tree.append(tree_id)
        nodes.node.append(node_id)
        if "leaf_value" in node:
            nodes.feature.append(0)
            nodes.threshold.append(0.0)
            nodes.mode.append("LEAF")
            nodes.true_id.append(0)
            nodes.false_id.append(0)
            weights = [float(node["leaf_value"]), *path_contribution.tolist()]
            for target, weight in enumerate(weights):
                if target == 0 or weight != 0.0:
                    nodes.target_tree.append(tree_id)
                    nodes.target_node.append(node_id)
                    nodes.target_id.append(target)
                    nodes.target_weight.append(weight)
            return node_id
        if node["decision_type"] != "<=":
            raise ValueError(f"unsupported split type {node['decision_type']!r}")
        feature = int(node["split_feature"])
        nodes.feature.append(feature)
        nodes.threshold.append(float(node["threshold"]))
        nodes.mode.append("BRANCH_LEQ")
        nodes.true_id.append(-1)
        nodes.false_id.append(-1)
        children = []
        for child in (node["left_child"], node["right_child"]):
            gain = _value(child) - float(node["internal_value"])
            children.append(visit(child, path_contribution + gain * groups[feature]))
        nodes.true_id[position], nodes.false_id[position] = children
        return node_id

    visit(root, np.zeros(groups.shape[1]))


def _value(node: dict[str, Any]) -> float:
    return float(node["leaf_value"] if "leaf_value" in node else node["internal_value"])


def booster_to_onnx(booster: lgb.Booster, groups: np.ndarray) -> bytes:
    """The booster (at its best iteration) as serialized ONNX; `groups` is (k, g)."""
    dump = booster.dump_model(num_iteration=booster.best_iteration or None)
    nodes = _Nodes()
    for tree_id, tree in enumerate(dump["tree_info"]):
        _add_tree(nodes, tree_id, tree["tree_structure"], groups)
    n_features, n_targets = groups.shape[0], 1 + groups.shape[1]
    ensemble = helper.make_node(
        "TreeEnsembleRegressor",
        ["X"],
        ["Y"],
        domain="ai.onnx.ml",
        nodes_treeids=nodes.tree,
        nodes_nodeids=nodes.node,
        nodes_featureids=nodes.feature,
        nodes_values_as_tensor=numpy_helper.from_array(np.asarray(nodes.threshold)),
        nodes_modes=nodes.mode,
        nodes_truenodeids=nodes.true_id,
        nodes_falsenodeids=nodes.false_id,
        nodes_missing_value_tracks_true=[0] * len(nodes.node),
        target_treeids=nodes.target_tree,
        target_nodeids=nodes.target_node,
        target_ids=nodes.target_id,
        target_weights_as_tensor=numpy_helper.from_array(np.asarray(nodes.target_weight)),
        n_targets=n_targets,
        aggregate_function="SUM",
        post_transform="NONE",
    )
    graph = helper.make_graph(
        [ensemble],
        "bankrisk_trees",
        [helper.make_tensor_value_info("X", TensorProto.DOUBLE, [None, n_features])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, n_targets])],
    )
    model = helper.make_model(
        graph,
        producer_name="bankrisk",
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 3)],
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())
