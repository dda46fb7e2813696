"""What the ascent maximises: the term interface and its step context, the built-in terms and
the objective that sums them (:mod:`.loss`), and the embedding terms: style, reference image,
image prompt (:mod:`.embedding_terms`)."""
