"""The web app: the Streamlit page (:mod:`.page`), its form (:mod:`.settings`) and the image and
clip runs it starts in threads (:mod:`.image_run`, :mod:`.clip_run`). Nothing but :mod:`.page`
imports Streamlit."""
