"""Worked examples: reference torch models for search and recommendation and the data they run on.

* :mod:`samplescope.examples.torch_models` — logistic regression, MLP, DeepFM, matrix factorisation and a
  small transformer cross-encoder, each an ``nn.Module`` scoring rows of ``Dataset.X``;
* :mod:`samplescope.examples.data` — datasets for them: OBD clicks with categorical codes (DeepFM),
  MovieLens-100k implicit feedback (matrix factorisation), query–item text pairs (cross-encoder).

Both need the ``torch`` extra (``pip install 'samplescope[torch]'``); they are imported on demand.
"""

__all__: list[str] = []
