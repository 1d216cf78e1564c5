"""`vectorize embed --engine ray` on a real two-node Ray cluster (ray.cluster_utils.Cluster: two raylets on
this machine, one CPU each): the local engine's dataset, with rows embedded on both nodes."""

import numpy as np
import pytest

from test_embed import read, sample, vectors

pytestmark = pytest.mark.ray
ray = pytest.importorskip("ray", reason="the ray extra: pip install 'vectorize-cli[ray]'")


@pytest.fixture(scope="module")
def cluster():
    from ray.cluster_utils import Cluster

    # Ray on Linux replaces 127.0.0.1 by the machine's own address when connecting (services.
    # resolve_ip_for_localhost), so both raylets use that address: all on this machine, nothing reached outside
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    c.add_node(num_cpus=1)
    c.wait_for_nodes()
    yield c
    c.shutdown()


def test_two_nodes_give_the_local_engines_dataset(minilm, cluster, rng, tmp_path):
    from vectorize_cli.corpus import job
    from vectorize_cli.config import ModelConfig

    texts = sample(rng, 48)
    (tmp_path / "in.txt").write_text("\n".join(texts) + "\n", encoding="utf-8")
    config = ModelConfig("multi-head", "numpy", batch_size=32)
    local = job.embed_corpus(job.Job([str(tmp_path / "in.txt")], tmp_path / "local", "minilm", config, part_rows=8))
    done = job.embed_corpus(job.Job([str(tmp_path / "in.txt")], tmp_path / "ray", "minilm", config, part_rows=8,
                                    engine="ray",
                           engine_options={"workers": 2, "address": cluster.address}))
    assert done.rows == local.rows == 48 and done.parts == local.parts
    nodes = {n.node_id for n in cluster.list_all_nodes()}
    per_node = done.stats["rows_per_node"]
    assert set(per_node) == nodes and len(nodes) == 2, per_node  # both nodes embedded rows
    assert sum(per_node.values()) == 48
    a, b = read(tmp_path / "local"), read(tmp_path / "ray")
    np.testing.assert_allclose(vectors(b), vectors(a), atol=1e-6)
    assert a.drop_columns(["vector"]).equals(b.drop_columns(["vector"]))  # ids in input order, every column
    assert a.schema.equals(b.schema, check_metadata=False)
    assert not (tmp_path / "ray" / ".staging").exists()
