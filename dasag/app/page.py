"""The DAS-AG demo as a web page, served by ``dasag app``.

``dasag app`` hands the page its server's settings (the output root, the caps a visitor cannot
lift, the address; :class:`~dasag.app.serving.ServerSettings`) as arguments after ``--``, and the
password in the environment; :func:`server_settings` reads them once, here at the page's edge, and
nothing below it reads either. Started by plain ``streamlit run``, which binds every interface and
gathers usage statistics, the page says to use ``dasag app`` and shows nothing else.

The page only draws controls and results. The controls fill an
:class:`~dasag.app.settings.AppSettings`, which becomes the same config mapping a
``dasag fit --config`` file holds; :func:`~dasag.run.build.build_run` builds it through the
CLI's own code, and :class:`~dasag.app.image_run.LiveRun` runs the real Trainer in a thread while
this script redraws progress. Scorers are shared by every session of the process
(``st.cache_resource``), so each model's weights load once.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

#: Session-state keys of the two prompt lists.
LISTS = {"pos": "Positive prompts", "neg": "Negative prompts"}
SCHEDULE_LABELS = {"auto": "auto (margin → 0)", "constant": "constant", "linear": "linear",
                   "exponential_decay": "exponential decay", "exponential_warmup": "exponential warmup"}


# --------------------------------------------------------------------------- page
def page() -> None:
    """The whole page: settings in the sidebar, prompts in the main column, then the run."""
    import streamlit as st

    from dasag.app.image_run import SharedScorers
    from dasag.app.run_queue import server_queue
    from dasag.app.settings import AppSettings
    from dasag.commands.skeleton import install_weight_locations
    from dasag.core.errors import ConfigError
    from dasag.core.process import set_up_process

    set_up_process()  # the app's own process, set up at its edge like a command's (idempotent)
    install_weight_locations()

    @st.cache_resource(show_spinner=False)
    def shared_scorers() -> SharedScorers:
        """One registry per process: every session reuses loaded models."""
        return SharedScorers()

    st.set_page_config(page_title="dasag: Direct Ascent Synthesis", layout="wide")
    try:
        server = server_settings()
    except ConfigError as e:
        st.error(str(e))
        return
    if not unlocked(st, server):
        return  # nothing but the password field until the password is given
    queue = server_queue(server.runs_at_once)
    st.title("Direct Ascent Synthesis with Aesthetic Guidance")
    st.caption("An image made by gradient ascent on a multi-resolution pyramid against frozen models: no generator.")
    defaults = AppSettings()
    init_prompt_rows(st.session_state, defaults)
    form = sidebar(st, defaults, server)
    prompt_lists(st, text=AppSettings(scorer=form["scorer"]).text_scorer)
    state = st.session_state
    settings = AppSettings(
        positive_prompts=[state[f"pos_{i}"] for i in state["pos_ids"]],
        negative_prompts=[state[f"neg_{i}"] for i in state["neg_ids"]],
        **form,
    )
    run_controls(st, settings, shared_scorers(), server, queue)
    clip_controls(st, settings, shared_scorers(), server, queue)


def server_settings(argv: Sequence[str] | None = None):
    """What ``dasag app`` handed over: its settings after ``--`` (``sys.argv[1:]`` of this script) and the
    password in :data:`~dasag.app.serving.PASSWORD_VARIABLE`, read here once per script run, at the edge.
    A script run by something else (Streamlit's ``AppTest``: ``sys.argv[0]`` is not this file) gets the
    defaults, a local server's. Raises :class:`~dasag.core.errors.ConfigError` for a page that plain
    ``streamlit run`` started, or a wide one without a password."""
    from dasag.app.serving import PASSWORD_VARIABLE, ServerSettings
    from dasag.core.errors import ConfigError

    argv = list(sys.argv if argv is None else argv)
    ours = bool(argv) and Path(argv[0]).resolve() == Path(__file__).resolve()
    if ours and not argv[1:]:
        raise ConfigError("Start this page with `dasag app`: plain `streamlit run` serves it to every network this machine is on, "
                          "gathers Streamlit's usage statistics and sets neither the output folder nor the caps.")
    server = ServerSettings.from_argv(argv[1:] if ours else [], password=os.environ.get(PASSWORD_VARIABLE)).check()
    if server.served and not server.locked and not server.open_access:
        raise ConfigError("This page is served to the network without a password: start it with `dasag app --listen`, which sets one.")
    return server


def unlocked(st, server) -> bool:
    """Whether this session may see the page: yes, unless the server has a password that this session has
    not given yet; until then the page shows the password field and nothing else (not even the title)."""
    state = st.session_state
    if not server.locked or state.get("unlocked"):
        return True
    with st.form("password_form"):
        given = st.text_input("Password", type="password", help="The password of this dasag app server (ask whoever started it).")
        submitted = st.form_submit_button("Open")
    if submitted:
        if server.password_matches(given):
            state["unlocked"] = True
            st.rerun()
        st.error("Wrong password.")
    return False


def init_prompt_rows(state, defaults) -> None:
    """Each prompt list is a list of row ids with one text input per row (the first visit fills it)."""
    for key, texts in (("pos", defaults.positive_prompts), ("neg", defaults.negative_prompts)):
        if f"{key}_ids" not in state:
            state[f"{key}_ids"] = list(range(len(texts)))
            state[f"{key}_next"] = len(texts)
            for i, text in enumerate(texts):
                state[f"{key}_{i}"] = text


def add_row(state, key: str, text: str = "") -> None:
    i = state[f"{key}_next"]
    state[f"{key}_next"] = i + 1
    state[f"{key}_ids"] = state[f"{key}_ids"] + [i]
    state[f"{key}_{i}"] = text


def remove_row(state, key: str, i: int) -> None:
    state[f"{key}_ids"] = [j for j in state[f"{key}_ids"] if j != i]


#: The scorer list's last entry: a field for any registry name (open_clip:..., timm:..., hf:...).
OTHER_SCORER = "another scorer by name..."


def sidebar(st, d, server) -> dict:
    """Every setting control; returns the AppSettings fields they fill (all but the prompts; ``output_dir``
    is the folder field as typed, a name inside the server's root). The server's caps bound the inputs
    here for the eye; :meth:`~dasag.app.serving.ServerSettings.admit` enforces them.
    One function per sidebar section, called in the page's order: Streamlit lays widgets out as they are made."""
    from dasag.app.settings import AppSettings

    sb = st.sidebar
    model = _model_controls(sb, served=server.served)
    text = AppSettings(scorer=model["scorer"]).text_scorer
    image = _image_controls(sb, d, server.canvases())
    optimisation = _optimisation_controls(sb, d, text, server)
    aesthetic = _aesthetic_controls(sb, d, text)
    augments = _augmentation_controls(st, sb, d, image["resolution"])
    reproducibility = _reproducibility_controls(sb, d, server)
    return {**model, **image, **optimisation, **aesthetic, **augments, **reproducibility}


def _model_controls(sb, served: bool = False) -> dict:
    """The scorer (the registry's scorers that can load here, or any registry name typed in) and, for
    SigLIP and CLIP, where the model and aesthetic head load from. A page served to the network offers
    only the scorers whose weights are here, and no field naming a file or a hub model."""
    from dasag.scorers import registry
    from dasag.scorers.weights import default_locations

    sb.header("Model")
    usable = {entry.name: entry.label for entry in registry.available()}
    choice = sb.selectbox("Scorer", [*usable, *([] if served else [OTHER_SCORER])], format_func=lambda name: usable.get(name, name), key="scorer",
                          help="The scorers whose weights can load here: shipped, configured or in the local cache.")
    scorer = choice
    if choice == OTHER_SCORER:
        scorer = sb.text_input("Scorer name", value="", key="scorer_name", help=f"Any scorer name: {', '.join(registry.forms())}.").strip()
        if scorer:
            try:
                registry.check(scorer)
            except ValueError as e:
                sb.error(str(e))
    # The fixed text-image names (siglip, clip) take their weights' locations here; the others are whole in their name.
    text = scorer in registry.fixed_names() and registry.get(scorer).text
    model_path = aesthetic_head = ""
    if text and not served:
        where = default_locations()
        configured = where.siglip_model if scorer == "siglip" else where.clip_model
        model_path = sb.text_input("Model (hub id or local folder)", value=configured or "", key="model_path",
                                   help="Empty: SIGLIP_MODEL_PATH / CLIP_MODEL_PATH, else the hub default (needs internet).")
        aesthetic_head = sb.text_input("Aesthetic head (.pth)", value="", key="aesthetic_head",
                                       help="Empty: AESTHETIC_PREDICTOR_MODEL_PATH / CLIP_AESTHETIC_PREDICTOR_PATH, else the upstream URL.")
        if not (model_path or configured):
            sb.warning("No local weights configured for this scorer: it loads from the hub, which needs internet.")
    return dict(scorer=scorer, model_path=model_path, aesthetic_head=aesthetic_head)


def _image_controls(sb, d, canvases: list[int]) -> dict:
    """Resolution (the canvases the server allows), the robust and sharing recipes and the pyramid's interpolation."""
    from dasag.image.resize import MODES

    sb.header("Image")
    default = d.resolution if d.resolution in canvases else canvases[-1]
    resolution = sb.selectbox("Resolution (px)", canvases, index=canvases.index(default), key="resolution",
                              help="384 and 768 are the DAS-AG v2 presets; 256 is the demo's; 96/192 are quick on a CPU.")
    robust = sb.checkbox("Robust recipe", value=d.robust_recipe, key="robust_recipe",
                         help="Zoom and flip on every copy, decorrelated colour and a photograph's contrast "
                              "(configs/quality/robust.yaml): images that transfer better and are not washed out, at about the same cost.")
    sharing = sb.checkbox("Keeps its class when shared", value=d.sharing_recipe, key="sharing_recipe",
                          help="Coarse levels first and the everyday edits (a thumbnail, JPEG, a zoom) as augmentations "
                               "(configs/quality/coarse.yaml and shared.yaml): calmer pictures that keep their class once resized "
                               "and recompressed, at the same scorer cost.")
    interpolation = sb.selectbox("Interpolation", list(MODES), index=list(MODES).index(d.interpolation), key="interpolation")
    return dict(resolution=int(resolution), robust_recipe=bool(robust), sharing_recipe=bool(sharing), interpolation=interpolation)


def _optimisation_controls(sb, d, text: bool, server) -> dict:
    """Steps and batch (up to the server's caps), learning rate, the text-guidance weight and the two suppression sliders."""
    sb.header("Optimisation")
    steps = sb.number_input("Steps", min_value=1, max_value=server.max_steps, value=min(d.steps, server.max_steps), step=1, key="steps",
                            help=allowed("steps", 1, server.max_steps, "the demo takes 60 on a CPU"))
    batch_size = sb.number_input("Batch size (augmented copies)", min_value=1, max_value=server.max_copies, value=min(d.batch_size, server.max_copies),
                                 step=1, key="batch_size", help=allowed("copies per step", 1, server.max_copies, "each costs one scorer pass"))
    learning_rate = sb.number_input("Learning rate", min_value=0.0, value=d.learning_rate, step=0.01, format="%.4f", key="lr",
                                    help="Above 0; the shipped configs use 0.3 (text scorers) to 0.6 (classifiers).")
    prompt_weight = sb.number_input("Text-guidance weight" if text else "Prompt weight", min_value=0.0, value=d.prompt_weight, step=0.1,
                                    key="prompt_weight")
    # arctanh acts on bounded (text-image) similarities only: a classifier's page does not offer it
    arctanh = sb.checkbox("arctanh on similarities", value=True, key="arctanh", help="Stretches cosine similarities near ±1.") if text else False
    # The original app's controls and ranges, in its units (TV and L1 of the scorer's input batch: docs/fidelity.md).
    tv_exponent = sb.slider("Texture suppression (TV weight 10^x)", min_value=-8, max_value=0, value=tv_slider_value(d.tv_weight), step=1,
                            key="tv", help="Higher: smoother, less texture. 10^-8 is DAS-AG v2's default.")
    l1_weight = sb.slider("Colour suppression (L1 weight)", min_value=0.0, max_value=0.5, value=float(d.l1_weight), step=0.05, key="l1",
                          help="Higher: greyer, less colour.")
    return dict(steps=int(steps), batch_size=int(batch_size), learning_rate=float(learning_rate), prompt_weight=float(prompt_weight),
                arctanh=bool(arctanh), tv_weight=float(10.0**tv_exponent), l1_weight=float(l1_weight))


def _aesthetic_controls(sb, d, text: bool) -> dict:
    """Reverse aesthetic guidance and the aesthetic weight's schedule (a text scorer's own default);
    none for a classifier, which has no aesthetic head to guide with."""
    from dasag.app.settings import text_scorer_aesthetic

    if not text:
        return dict(reverse_aesthetic=False, aesthetic=d.aesthetic)
    sb.header("Aesthetic guidance")
    reverse = sb.checkbox("Reverse aesthetic (rAG)", value=d.reverse_aesthetic, key="reverse")
    aesthetic = schedule_inputs(sb, "aesthetic", text_scorer_aesthetic() if text else d.aesthetic,
                                kinds=("constant", "linear", "exponential_decay", "exponential_warmup"))
    return dict(reverse_aesthetic=bool(reverse), aesthetic=aesthetic)


def _augmentation_controls(st, sb, d, resolution: int) -> dict:
    """Jitter, colour shift and noise, each switchable with its schedule; jitter starts from the preset's margin."""
    from dasag.app.settings import Augmentation, ScheduleSetting
    from dasag.image.pyramid import PRESETS

    sb.header("Augmentations")
    margin = PRESETS[resolution][1]
    augments: dict[str, Augmentation] = {}
    for name, label, default in (("jitter", "Jitter (px)", d.jitter), ("color_shift", "Colour shift", d.color_shift), ("noise", "Noise σ", d.noise)):
        with sb.expander(label):
            on = st.checkbox("on", value=default.enabled, key=f"{name}_on")
            kinds = ("exponential_warmup", "exponential_decay", "linear", "constant")
            if name == "jitter":
                kinds = ("auto", "constant", "linear", "exponential_warmup", "exponential_decay")
            seed_default = ScheduleSetting("auto", float(margin), 0.0) if name == "jitter" else default.schedule
            augments[name] = Augmentation(on, schedule_inputs(st, name, seed_default, kinds=kinds))
    return dict(jitter=augments["jitter"], color_shift=augments["color_shift"], noise=augments["noise"])


def _reproducibility_controls(sb, d, server) -> dict:
    """Determinism, the seed (or a new one each run), the preview rate and the output folder (a name inside the server's root)."""
    sb.header("Reproducibility")
    deterministic = sb.checkbox("Deterministic mode", value=d.deterministic, key="deterministic")
    random_seed = sb.checkbox("New random seed each run", value=d.random_seed, key="random_seed",
                              help="Each Generate draws a seed; the one used is shown with the result and written into the PNG and the config.")
    seed = sb.number_input("Seed", min_value=0, max_value=2**32 - 1, value=d.seed, step=1, key="seed", disabled=random_seed,
                           help=allowed("seeds", 0, 2**32 - 1))
    preview_every = sb.number_input("Refresh image every N steps", min_value=1, value=d.preview_every, step=1, key="preview_every",
                                    help="A whole number of steps, at least 1.")
    output_dir = sb.text_input("Output folder", value="", key="output_dir", placeholder="empty: the server's output folder",
                               help=f"A folder inside {server.out_root} (empty: that folder itself). Each run writes a numbered folder inside it; "
                                    "created if missing.")
    problem = output_folder_problem(server, output_dir)
    if problem:  # said as soon as it is typed, not after pressing Generate
        sb.error(problem)
    return dict(deterministic=bool(deterministic), seed=int(seed), random_seed=bool(random_seed), output_dir=output_dir, preview_every=int(preview_every))


def allowed(what: str, low: int, high: int, why: str = "") -> str:
    """A bounded input's help: Streamlit marks a value outside ``min_value..max_value`` with a red
    border and no words, so the range is said where the user looks for it."""
    return f"{low} to {high} {what}" + (f"; {why}." if why else ".")


def output_folder_problem(server, folder: str) -> str | None:
    """Why the folder field cannot take a run (outside the server's root, not a plain name, a file, not writable), or ``None``."""
    from dasag.core.errors import ConfigError

    try:
        server.folder(folder)
    except ConfigError as e:
        return str(e)
    return None


#: The weighted prompt syntax (dasag.core.prompts), as the prompt lists' help.
PROMPT_SYNTAX = ("Weights as in VQGAN+CLIP: `a castle | misty:0.5 | text:-1` (a negative weight pushes away), "
                 "`goldfish:2` pulls twice as hard; `image:PATH:0.3` adds an image prompt.")
NEGATIVE_SYNTAX = "Pushed away; `blurry:0.5` pushes half as hard."


def prompt_lists(st, text: bool) -> None:
    """The ImageNet class picker (classifiers) and the two editable prompt lists."""
    from dasag.scorers.imagenet import class_names

    state = st.session_state
    if not text:
        names = list(class_names())
        c1, c2, c3 = st.columns([3, 1, 1], vertical_alignment="bottom")
        chosen = c1.selectbox("ImageNet class", names, index=names.index("goldfish"), key="imagenet_class",
                              help="The classifier scores ImageNet classes: a prompt is a class name or an index 0..999.")
        c2.button("Add to positive", on_click=add_row, args=(state, "pos", chosen), key="add_class_pos", use_container_width=True)
        c3.button("Add to negative", on_click=add_row, args=(state, "neg", chosen), key="add_class_neg", use_container_width=True)
    cols = st.columns(2)
    for col, key in zip(cols, LISTS):
        with col:
            st.subheader(LISTS[key], help=PROMPT_SYNTAX if key == "pos" else NEGATIVE_SYNTAX)
            for i in state[f"{key}_ids"]:
                a, b = st.columns([6, 1], vertical_alignment="bottom")
                a.text_input(f"{LISTS[key][:-1]} {i}", key=f"{key}_{i}", label_visibility="collapsed")
                b.button("✕", key=f"{key}_rm_{i}", on_click=remove_row, args=(state, key, i), help="Remove this prompt")
            st.button("Add prompt", icon=":material/add:", key=f"{key}_add", on_click=add_row, args=(state, key))


def run_controls(st, settings, shared, server, queue) -> None:
    """Generate and Stop, the live progress while a run goes on (or its place in the server's line), then its result."""
    from dasag.app.image_run import LiveProgress, LiveRun
    from dasag.core.config import to_yaml
    from dasag.core.errors import ConfigError
    from dasag.run.build import build_run

    state = st.session_state
    run: LiveRun | None = state.get("run")
    busy = run is not None and run.running
    g, s, _ = st.columns([1, 1, 4])
    generate = g.button("Generate", type="primary", disabled=busy, key="generate")
    stop = s.button("Stop", disabled=not busy, key="stop")
    if stop and run is not None:
        run.stop()
    if generate and not busy:
        try:
            settings = server.admit(settings.for_run())  # a fresh seed when ticked; the folder, the caps, the disk
            config = settings.to_config()
            progress = LiveProgress(settings.preview_every, owner_alive=this_page_alive())
            built = build_run(config, [progress], share_scorer=shared,
                              trainer_overrides={"enable_progress_bar": False, "enable_model_summary": False})
        except (ConfigError, ValueError) as e:
            st.error(str(e))
        else:
            state["run"], state["run_yaml"], state["run_seed"] = LiveRun(built, progress, shared, queue).start(), to_yaml(config), settings.seed
            st.rerun()  # redraw with Generate disabled and Stop enabled while it runs
    if run is None:
        st.info("Set the prompts and settings, then press Generate.")
        return
    if busy:
        watch(st, run)  # redrawn by itself; the rest of the page (the clip expander, the sidebar) stays
        return
    show_result(st, run, state.get("run_yaml", ""), state.get("run_seed"))


#: How often the live panels redraw, seconds.
REFRESH_SECONDS = 0.5


def watch(st, run) -> None:
    """Progress (step, elapsed, time left) and the current image, in a fragment that redraws itself
    every :data:`REFRESH_SECONDS` while the rest of the page stays on screen; when the run ends the
    whole page reruns, to enable Generate and show the result."""

    @st.fragment(run_every=REFRESH_SECONDS)
    def live() -> None:
        if not run.running:
            st.rerun()
        snap = run.progress.latest
        if run.place is not None:
            st.progress(0.0, text=waiting_text(run.place, run.queue.at_once))
            return
        if snap is None:
            st.progress(0.0, text="waiting for the shared model (another session is generating)…" if run.waiting else "loading the model…")
            return
        st.progress(snap.step / snap.total, text=progress_text(snap.step, snap.total, snap.loss, snap.scores, run.elapsed, snap.seconds_left))
        st.image(snap.image, caption=f"step {snap.step}", width=min(512, snap.image.shape[1] * 2))

    live()


def waiting_text(place: int, at_once: int = 1) -> str:
    """A run's place in the server's line, in words."""
    ahead = "next in line" if place == 1 else f"{place - 1} ahead of it in line"
    many = "one picture or clip" if at_once == 1 else f"{at_once} pictures or clips"
    return f"waiting for its turn: {ahead} (this server makes {many} at a time)"


def clip_controls(st, settings, shared, server, queue) -> None:
    """"Make a clip": from the first positive prompt to another, zooming in, with the sidebar's
    settings (frame 0 takes the sidebar's steps). Frames show as they finish, then the GIF."""
    from dasag.app.clip_run import ClipForm, ClipRun, clip_config, clip_folder
    from dasag.core.errors import ConfigError

    state = st.session_state
    clip: ClipRun | None = state.get("clip")
    image_run = state.get("run")
    busy = (clip is not None and clip.running) or (image_run is not None and image_run.running)
    with st.expander("Make a clip", expanded=clip is not None):
        positive, _ = settings.prompts()
        defaults = ClipForm(start=positive[0] if positive else "", end="volcano" if not settings.text_scorer else "")
        a, b = st.columns(2)
        start = a.text_input("From", value=defaults.start, key="clip_from", help="Frame 0's prompt (default: the first positive prompt).")
        end = b.text_input("To", value=defaults.end, key="clip_to", help="The last frame's prompt; the frames between fade from one to the other.")
        c, d, e = st.columns(3)
        frames = c.number_input("Frames", min_value=1, max_value=server.max_frames, value=min(defaults.frames, server.max_frames), step=1,
                                key="clip_frames", help=allowed("frames", 1, server.max_frames))
        steps = d.number_input("Steps per later frame", min_value=1, max_value=server.max_steps, value=min(defaults.steps, server.max_steps), step=1,
                               key="clip_steps", help=f"1 to {server.max_steps}. Frame 0 takes the sidebar's Steps from noise; "
                                                      "every later frame starts from the one before.")
        zoom = e.number_input("Zoom per frame", min_value=0.5, max_value=2.0, value=float(defaults.zoom), step=0.01, format="%.3f",
                              key="clip_zoom", help="0.5 to 2. Above 1 flies in, below 1 out.")
        m, s, _ = st.columns([1, 1, 4])
        make = m.button("Make clip", disabled=busy, key="clip_make")
        stop = s.button("Stop clip", disabled=not (clip is not None and clip.running), key="clip_stop")
        if stop and clip is not None:
            clip.stop()
        if make and not busy:
            try:
                form = ClipForm(start, end, int(frames), int(steps), float(zoom), defaults.fps)
                server.check_clip(form.frames, form.steps)
                admitted = server.admit(settings.for_run())
                config = clip_config(admitted.to_config(), form)
            except (ConfigError, ValueError) as error:
                st.error(str(error))
            else:
                state["clip"] = ClipRun(config, clip_folder(admitted.output_dir, config), shared, owner_alive=this_page_alive(), queue=queue).start()
                st.rerun()
        if clip is None:
            return
        if clip.running:
            watch_clip(st, clip)
            return
        show_clip(st, clip)


def watch_clip(st, clip) -> None:
    """The clip's progress and its latest frame, redrawn by a fragment like :func:`watch`."""

    @st.fragment(run_every=REFRESH_SECONDS)
    def live() -> None:
        if not clip.running:
            st.rerun()
        done = clip.latest
        if clip.place is not None:
            st.progress(0.0, text=waiting_text(clip.place, clip.queue.at_once))
            return
        if done is None:
            st.progress(0.0, text="loading the model and making frame 1 from noise…")
            return
        st.progress((done.frame + 1) / done.frames, text=f"frame {done.frame + 1} of {done.frames}: {done.seconds:.1f} s")
        st.image(done.picture, caption=f"frame {done.frame + 1}", width=min(512, done.picture.shape[1] * 2))

    live()


def show_clip(st, clip) -> None:
    """The finished GIF and its downloads, or what a stopped or failed clip kept."""
    if clip.error:
        st.error(f"The clip failed: {clip.error}")
    result = clip.result
    if result is None:
        return
    done = sum(path.is_file() for path in result.frames)
    if result.gif is None:
        st.info(f"Stopped with {done} of {len(result.frames)} frames; Make clip with the same settings continues from there.")
        return
    st.subheader(f"Clip finished: {len(result.frames)} frames")
    gif = result.gif.read_bytes()
    st.image(gif, caption="clip.gif", width=min(512, 2 * _png_side(result.frames[0])))
    a, b, _ = st.columns([1, 1, 3])
    a.download_button("Download GIF", data=gif, file_name="clip.gif", mime="image/gif", key="clip_gif")
    b.download_button("Download MP4", data=result.mp4.read_bytes(), file_name="clip.mp4", mime="video/mp4", key="clip_mp4")
    st.caption(f"Frames (PNG with metadata), clip.mp4 and TensorBoard events in {result.out}")


def _png_side(path) -> int:
    from PIL import Image

    with Image.open(path) as im:
        return im.width


def schedule_inputs(where, name: str, default, kinds: Sequence[str]):
    """Schedule kind, start, end and rate widgets; returns a ScheduleSetting."""
    from dasag.app.settings import ScheduleSetting

    kinds = list(kinds)
    kind = where.selectbox("schedule", kinds, index=kinds.index(default.kind) if default.kind in kinds else 0,
                           format_func=SCHEDULE_LABELS.get, key=f"{name}_kind")
    if kind == "auto":
        return ScheduleSetting("auto")
    a, b = where.columns(2)
    start = a.number_input("start" if kind != "constant" else "value", value=float(default.start), key=f"{name}_start", format="%.3f")
    end = b.number_input("end", value=float(default.end), key=f"{name}_end", format="%.3f", disabled=kind == "constant")
    rate = where.number_input("rate", value=float(default.rate), min_value=0.0, max_value=0.999, key=f"{name}_rate",
                              format="%.3f", disabled=not kind.startswith("exponential"))
    return ScheduleSetting(kind, float(start), float(end), float(rate))


def progress_text(step: int, total: int, loss: float | None, scores: dict[str, float], elapsed: float | None = None,
                  seconds_left: float | None = None) -> str:
    """``step 12/60 · loss … · <scores in words> · 14 s, about 56 s left``."""
    from dasag.core.eta import duration_text

    parts = [f"step {step}/{total}"]
    if loss is not None:
        parts.append(f"loss {loss:.4f}")
    parts += [f"{score_label(k)} {v:.4f}" for k, v in scores.items()]
    if elapsed is not None:
        parts.append(duration_text(elapsed) + (f", about {duration_text(seconds_left)} left" if seconds_left is not None else ""))
    return " · ".join(parts)


#: What each score field of a text scorer measures, for the page.
SCORE_FIELDS = {"positive": "prompt similarity", "negative": "negative-prompt similarity", "aesthetic": "aesthetic score"}
#: The same for a classifier guide, whose prompt score is its objective (log-probability by default).
CLASSIFIER_FIELDS = {"positive": "prompt score", "negative": "negative-prompt score"}


def probability_text(p: float) -> str:
    """Two decimals, or the first significant digits below 0.01 (a class the image does not show
    yet reads 0.0004, not a misleading 0.00)."""
    return f"{p:.2f}" if p >= 0.01 else f"{p:.1g}" if p > 0 else "0"


def score_label(key: str) -> str:
    """``siglip/positive`` -> ``siglip: prompt similarity``, ``lite0/positive`` -> ``lite0: prompt score``
    (an unknown key is shown as it is)."""
    member, _, field = key.partition("/")
    if field in SCORE_FIELDS and not member.startswith("lite"):
        return f"{member}: {SCORE_FIELDS[field]}"
    return f"{member}: {CLASSIFIER_FIELDS[field]}" if field in CLASSIFIER_FIELDS else key


def tv_slider_value(weight: float) -> int:
    """The TV slider's exponent for a weight (clamped to the original app's 10^-8 .. 10^0)."""
    import math

    return int(min(0, max(-8, round(math.log10(weight))))) if weight > 0 else -8


def this_page_alive() -> Callable[[], bool] | None:
    """Whether the browser tab of the script running now is still connected (``None`` where there
    is no server session to watch, e.g. under AppTest). A run started from a tab that closes ends after its
    current step instead of holding the shared model for every later run."""
    from streamlit import runtime
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    if ctx is None or not runtime.exists() or not runtime.get_instance().is_active_session(ctx.session_id):
        return None  # no server session to watch (AppTest runs the script without one)
    session = ctx.session_id
    # no runtime any more: the server is shutting down (or a test's stand-in is gone), not a closed tab
    return lambda: not runtime.exists() or bool(runtime.get_instance().is_active_session(session))


def show_result(st, run, run_yaml: str, seed: int | None = None) -> None:
    """The final (or stopped) image, its scores, PNG download and the reproducing config."""
    if run.error:
        st.error(f"The run failed: {run.error}")
    result = run.result
    if result is None:
        if not run.error:
            st.info("Stopped before the first step: there is no image yet.")
        return
    status = f"stopped at step {result.step} of {result.total}" if result.stopped else f"finished: {result.total} steps"
    st.subheader(f"Result ({status})")
    left, right = st.columns([2, 1])
    left.image(result.image, caption="final image", width=min(768, max(384, result.image.shape[1])))
    with right:
        if seed is not None:
            st.metric("seed", str(seed))
        read = {r.scorer for r in result.classes if r.guided}
        # A classifier in words: p(class) and its top-5, not a log-probability. The held-out one
        # first: the guide was optimised to be sure, so only a model that never saw the ascent says something.
        for readout in sorted(result.classes, key=lambda r: r.guided):
            role = "guide" if readout.guided else "held out, did not guide"
            for name, p in readout.positive:
                st.metric(f"p({name}) · {readout.scorer} ({role})", probability_text(p))
            for name, p in readout.negative:
                st.metric(f"p({name}) · {readout.scorer} ({role}) · avoided", probability_text(p))
            st.caption(f"{readout.scorer} ({role}) top-5")
            st.table({"class": [n for n, _ in readout.top], "probability": [probability_text(p) for _, p in readout.top]})
        for k, v in result.scores.items():
            if k.split("/")[0] not in read:
                st.metric(score_label(k), f"{v:.4f}")
        st.download_button("Download PNG", data=result.png, file_name="dasag.png", mime="image/png", key="download_png")
        if result.files:
            st.caption(f"Also written to {result.files[0]}")
    st.subheader("Copy as config")
    note = " (it runs all steps; this image was stopped early)" if result.stopped else ""
    st.caption(f"Save as run.yaml and reproduce with `dasag fit --config run.yaml`{note}.")
    st.code(run_yaml, language="yaml")
    st.download_button("Download config YAML", data=run_yaml, file_name="run.yaml", mime="text/yaml", key="download_yaml")


if __name__ == "__main__":  # streamlit runs this file as its script
    page()
