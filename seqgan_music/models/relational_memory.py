"""The relational memory core (Santoro et al. 2018), RelGAN's generator core (Nie et al., ICLR 2019).

The memory is `slots` rows, each `heads * head_size` wide (M). At every step the input, projected to
M, joins the memory as one more row; each memory row attends over all the rows (multi-head
self-attention, keys and queries of head_size as in the reference), then a residual two-layer MLP
follows, each with a layer norm, and LSTM-style input and forget gates (the forget gate's bias 1)
mix the result into the old memory. The output is the new memory flattened (slots * M): the
reference's, and what RelGAN's output layer reads.

It is called as `nn.LSTM(batch_first=True)` is: `core(inputs (B, T, In), state) -> (out (B, T, H),
(h, c))` with h and c (1, B, H), H = slots * M, `state=None` the initial memory. h is the output and
c the memory, both flattened (so equal), which keeps every piece of code that slices, stacks or
indexes LSTM states along the batch dimension working unchanged. The initial memory is the
reference's: identity rows padded with zeros, not learnt. Steps are computed one at a time (the
memory is recurrent), so a step depends only on inputs up to it.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

FORGET_BIAS = 1.0  # added to the forget gate's pre-activation (the reference's): the memory is kept at first
INPUT_BIAS = 0.0


class RelationalMemory(nn.Module):
    """Memory of `slots` slots of `heads * head_size`, read and written by self-attention each step."""

    def __init__(self, input_size: int, slots: int = 1, heads: int = 2, head_size: int = 32) -> None:
        super().__init__()
        if min(input_size, slots, heads, head_size) < 1:
            raise ValueError(f"input_size, slots, heads and head_size must be >= 1, got "
                             f"{input_size}, {slots}, {heads}, {head_size}")
        self.input_size, self.slots, self.heads, self.head_size = input_size, slots, heads, head_size
        self.slot_size = heads * head_size  # M
        self.hidden_size = slots * self.slot_size  # H: the output, the flattened memory
        self.num_layers = 1  # the states' first dimension, as a one-layer LSTM's
        width = self.slot_size
        self.input_projection = nn.Linear(input_size, width)
        self.qkv = nn.Linear(width, 3 * width)  # per head: query, key and value, head_size each
        self.qkv_norm = nn.LayerNorm(3 * width)
        self.attention_norm = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, width), nn.ReLU(), nn.Linear(width, width))
        self.mlp_norm = nn.LayerNorm(width)
        self.input_gates = nn.Linear(width, 2 * width)  # input and forget gates, from the projected input
        self.memory_gates = nn.Linear(width, 2 * width)  # ... and from tanh of the old memory

    def initial_memory(self, batch: int, like: Tensor) -> Tensor:
        """(B, slots, M): identity rows padded with zeros (truncated where M < slots), in like's dtype and device."""
        eye = torch.eye(self.slots, self.slot_size, dtype=like.dtype, device=like.device)
        return eye.repeat(batch, 1, 1)

    def forward(self, inputs: Tensor, state: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """inputs (B, T, In) -> the memory after each step flattened (B, T, H), and (h, c), each (1, B, H)."""
        batch = inputs.shape[0]
        if state is None:
            memory = self.initial_memory(batch, inputs)
        else:
            memory = state[1][-1].reshape(batch, self.slots, self.slot_size)
        projected = self.input_projection(inputs)  # (B, T, M)
        gates_in = self.input_gates(projected)  # (B, T, 2M)
        outputs = []
        # unbind, not [:, t]: the backward of T selections would zero-fill a (B, T, M) gradient at every step
        for step_input, step_gates in zip(projected.unbind(1), gates_in.unbind(1)):
            memory = self._advance(memory, step_input, step_gates)
            outputs.append(memory.flatten(1))
        out = torch.stack(outputs, dim=1) if outputs else inputs.new_empty((batch, 0, self.hidden_size))
        final = memory.flatten(1).unsqueeze(0)  # (1, B, H)
        return out, (final, final.clone())

    def _advance(self, memory: Tensor, projected: Tensor, gates_in: Tensor) -> Tensor:
        """One step: memory (B, S, M), the projected input (B, M) and its gate terms (B, 2M) -> new memory."""
        batch, slots, width = memory.shape
        rows = torch.cat([memory, projected.unsqueeze(1)], dim=1)  # (B, S + 1, M): [memory; input]
        qkv = self.qkv_norm(self.qkv(rows)).view(batch, slots + 1, self.heads, 3 * self.head_size).transpose(1, 2)
        query, key, value = qkv.split(self.head_size, dim=-1)  # (B, heads, S + 1, d) each
        query = query[:, :, :slots]  # only the memory rows are kept, so only they need a query
        weights = torch.softmax(query @ key.transpose(-1, -2) * self.head_size ** -0.5, dim=-1)  # (B, heads, S, S + 1)
        attended = (weights @ value).transpose(1, 2).reshape(batch, slots, width)  # (B, S, M)
        candidate = self.attention_norm(memory + attended)
        candidate = self.mlp_norm(candidate + self.mlp(candidate))
        gates = self.memory_gates(torch.tanh(memory)) + gates_in.unsqueeze(1)  # (B, S, 2M)
        input_gate, forget_gate = gates.chunk(2, dim=-1)
        return (torch.sigmoid(input_gate + INPUT_BIAS) * torch.tanh(candidate)
                + torch.sigmoid(forget_gate + FORGET_BIAS) * memory)


def relational_parameters(input_size: int, heads: int, head_size: int) -> int:
    """RelationalMemory's parameter count, for memory estimates without building it (every slot
    shares the weights, so the slot count does not enter)."""
    width = heads * head_size
    projection = (input_size + 1) * width
    attention = (width + 1) * 3 * width + 2 * 3 * width  # the query-key-value layer and its norm
    mlp = 2 * (width + 1) * width + 2 * 2 * width  # two layers, the attention's and the MLP's norms
    gates = 2 * (width + 1) * 2 * width
    return projection + attention + mlp + gates
