"""A model family's forward pass against transformers' own model, layer by layer: the hidden states after the
embeddings and after every layer (rtol 1e-5) and every layer's attention weights (eager attention, rtol 1e-5),
on the real tokens of a right-padded batch of texts of different lengths. Shared by test_roberta, test_mpnet and
test_decoder: one comparison, each family's forward passed in."""

import numpy as np


def padded(model, texts):
    """texts -> (ids (B, T) right padded with the config's pad_id, pad (B, T) True for padding)."""
    encs = model.tokenizer.encode(texts)
    n = [len(e.ids) for e in encs]
    ids = np.full((len(texts), max(n)), model.folder.config.pad_id, dtype=np.int64)
    for b, e in enumerate(encs):
        ids[b, : n[b]] = e.ids
    return ids, np.arange(max(n))[None, :] >= np.asarray(n)[:, None]


def against_transformers(forward, model, hf, texts, backend: str, what: str, causal: bool = False):
    """forward (bert.forward or decoder.forward) on `model` against transformers' model saved in `hf` -> (ours:
    [x0, x per layer] as numpy, transformers' output), every hidden state and weight already compared."""
    import torch
    from transformers import AutoModel

    from vectorize_cli.config import ModelConfig
    from vectorize_cli.pipelines.bert import backend_for

    ids, pad = padded(model, texts)
    bk, _ = backend_for(ModelConfig(backend=backend))
    with bk.no_grad():
        x0, layers, _ = forward(model, bk, ids, np.zeros_like(ids), pad, "explicit")
        mine = [bk.numpy(x0)] + [bk.numpy(x) for _, x in layers]
        att = [bk.numpy(a) for a, _ in layers]
    ref = AutoModel.from_pretrained(hf, attn_implementation="eager").eval()
    with torch.no_grad():
        out = ref(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(~pad).long(),
                  output_hidden_states=True, output_attentions=True)
    real = ~pad
    assert len(out.hidden_states) == len(mine) and len(out.attentions) == len(att)
    for i, (x, r) in enumerate(zip(mine, out.hidden_states)):
        np.testing.assert_allclose(x[real], r.numpy()[real], rtol=1e-5, atol=1e-5, err_msg=f"{what} {i}")
    for i, (a, r) in enumerate(zip(att, out.attentions)):
        if causal:
            assert not np.triu(a, 1).any(), "causal: no query sees a later key"
        a, r = a.transpose(0, 2, 1, 3)[real], r.numpy().transpose(0, 2, 1, 3)[real]  # (real queries, H, T)
        np.testing.assert_allclose(a, r, rtol=1e-5, atol=1e-6, err_msg=f"{what} layer {i + 1}")
    return mine, out, real
