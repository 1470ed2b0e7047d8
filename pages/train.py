"""Train: launch a training job on a dataset folder, watch it live, cancel, resume, promote."""

from pathlib import Path

import plotly.graph_objects as go
import streamlit as st

from ecg_model import jobs
from ecg_model.data import parse_class_map, scan_dataset
from ecg_model.roots import confine, dataset_candidates
from ui_common import data_roots, disclaimer

st.title("Train a model")
st.write("A training job runs as its own process (on the GPU when there is one), so the app stays usable and "
         "the job survives page reloads. Images are split by distinct image into train, validation (best epoch, "
         "calibration) and test (reported only).")


@st.cache_data(show_spinner=False)
def _device_text() -> str:
    import torch

    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        return f"GPU: {p.name}, {p.total_memory / 2**30:.0f} GiB"
    return "CPU only (no CUDA GPU found); training takes minutes per epoch on a laptop"


st.info(f"Device: {_device_text()}")


@st.cache_data(show_spinner="Looking at the dataset…", ttl=60)
def _scan(path: str, class_map_text: str) -> dict:
    scan = scan_dataset(path, parse_class_map(class_map_text))
    thumbs = {}
    for rec in scan.records:
        thumbs.setdefault(rec.folder, [])
        if len(thumbs[rec.folder]) < 3:
            thumbs[rec.folder].append(rec.path)
    return {"counts": scan.counts(), "labels": scan.label_counts(), "duplicates": scan.n_exact_duplicates,
            "skipped": scan.skipped_folders, "missing": scan.missing_folders, "thumbs": thumbs}


roots = data_roots()
candidates = dataset_candidates(roots)
with st.expander("Start a new run", expanded=not jobs.list_runs()):
    if not candidates:
        st.warning("No dataset folders found. Put class folders (for example normal/ and risky/) in "
                   + ", ".join(str(r) for r in roots) + " or set ECG_DATA_ROOTS.")
    else:
        root = st.selectbox("ECG_ROOT (dataset folder)", candidates, format_func=str)
        subfolders = sorted(p.name for p in Path(root).iterdir() if p.is_dir())
        default_map = ("normal=0,risky=1" if {"normal", "risky"} <= {s.lower() for s in subfolders}
                       else ",".join(f"{s}={0 if s.lower().startswith('normal') else 1}" for s in subfolders))
        class_map_text = st.text_input("CLASS_TO_IDX (folder=label; 0 normal, 1 risky; several folders may share a label)",
                                       default_map)
        try:
            info = _scan(str(root), class_map_text)
        except ValueError as exc:
            st.error(str(exc))
            info = None
        if info:
            st.write("Distinct images per folder:", info["counts"],
                     f"— {info['duplicates']} exact duplicate files will be ignored.")
            if info["skipped"]:
                st.caption("Folders not in the class map (skipped): " + ", ".join(info["skipped"]))
            if info["missing"]:
                st.warning("Not found: " + ", ".join(info["missing"]))
            for folder, paths in info["thumbs"].items():
                cols = st.columns(3)
                for col, p in zip(cols, paths):
                    col.image(p, caption=f"{folder}: {Path(p).name}", width="stretch")
        c1, c2, c3, c4 = st.columns(4)
        img_size = c1.selectbox("IMG_SIZE (height x width)", ["256x512", "192x384", "320x640"], index=0)
        batch = c2.number_input("BATCH_SIZE", 2, 256, 32)
        lr = c3.number_input("LEARNING_RATE", 1e-5, 1e-1, 2e-3, format="%.5f")
        epochs = c4.number_input("NUM_EPOCHS", 1, 500, 30)
        a1, a2 = st.columns(2)
        photo_aug = a1.slider("Simulated phone photos per training image", 0, 3, 1)
        retemplate_aug = a2.slider("Copies of each training printout on other templates", 0, 3, 0,
                                   help="Other grid colours, margins, header text, inks and pens: the model learns "
                                        "to follow the traces, not the paper.")
        if st.button("Start training", type="primary", disabled=info is None or len(info.get("labels", {})) < 2):
            h, w = (int(v) for v in img_size.split("x"))
            try:
                root = confine(root, roots)  # again at launch: the folder may have become a link since
            except ValueError as exc:
                st.error(str(exc))
            else:
                run = jobs.launch(jobs.JobSettings(ecg_root=str(root), class_to_idx=parse_class_map(class_map_text),
                                                   img_size=(h, w), batch_size=int(batch), learning_rate=float(lr),
                                                   num_epochs=int(epochs), photo_aug=int(photo_aug),
                                                   retemplate_aug=int(retemplate_aug)))
                st.session_state["train_run"] = run.run_id
                st.success(f"Started run {run.run_id}.")

runs = jobs.list_runs()
if not runs:
    st.stop()

st.subheader("Runs")
st.dataframe([{"run": r.run_id, "status": r.status, "dataset": r.settings.get("ecg_root"),
               "epochs": len(r.epochs()), "best val score": (r.epochs()[-1].get("best_auroc") if r.epochs() else None),
               "test AUROC": ((r.last("done") or {}).get("test") or {}).get("auroc")} for r in runs],
             hide_index=True)
ids = [r.run_id for r in runs]
selected = st.selectbox("Run", ids, index=ids.index(st.session_state["train_run"])
                        if st.session_state.get("train_run") in ids else 0)
st.session_state["train_run"] = selected


@st.fragment(run_every=2)
def _live(run_id: str) -> None:
    run = jobs.load_run(jobs.RUNS_DIR / run_id)
    st.write(f"Status: **{run.status}**")
    epochs = run.epochs()
    total = int(run.settings.get("num_epochs", 1))
    pre = run.last("preprocess")
    if run.status == "running" and not epochs and pre:
        st.progress(pre["done"] / max(pre["total"], 1), text=f"Preparing {pre['stage']}: {pre['done']}/{pre['total']}")
    else:
        st.progress(min(1.0, len(epochs) / max(total, 1)), text=f"Epoch {len(epochs)} of {total}")
    batch = run.last("batch")
    if run.status == "running" and batch:
        st.caption(f"Epoch {batch['epoch']}: batch {batch['batch']}/{batch['batches']}, loss {batch['loss']:.3f}")
    if epochs:
        x = [e["epoch"] for e in epochs]
        fig = go.Figure()
        fig.add_scatter(x=x, y=[e["train_loss"] for e in epochs], name="train loss")
        fig.add_scatter(x=x, y=[e["val_loss"] for e in epochs], name="validation loss")
        fig.add_scatter(x=x, y=[e["val_auroc"] for e in epochs], name="validation AUROC", yaxis="y2")
        if any(e.get("val_photo_auroc") is not None for e in epochs):
            fig.add_scatter(x=x, y=[e.get("val_photo_auroc") for e in epochs], name="validation AUROC (photos)",
                            yaxis="y2")
        fig.update_layout(height=320, xaxis_title="epoch", yaxis_title="loss",
                          yaxis2={"title": "AUROC", "overlaying": "y", "side": "right", "range": [0, 1]},
                          margin={"t": 20, "b": 40})
        st.plotly_chart(fig, key=f"curve-{run_id}")
    for kind in ("error", "done", "cancelled", "refused"):
        e = run.last(kind)
        if e:
            (st.error if kind == "error" else st.info)(e.get("message", kind))
    c1, c2, c3 = st.columns(3)
    if run.status == "running" and c1.button("Cancel", key=f"cancel-{run_id}"):
        jobs.cancel(run)
        st.toast("Cancel requested; the job stops after the current batch.")
    if run.status in ("cancelled", "interrupted") and (run.path / "last.pt").exists():
        if c1.button("Resume", key=f"resume-{run_id}"):
            new = jobs.resume(run)
            st.session_state["train_run"] = new.run_id
            st.rerun()
    log = run.path / "log.txt"
    if log.exists():
        c2.download_button("Download job log", log.read_bytes(), file_name=f"{run_id}.log", key=f"log-{run_id}")
    if run.status == "done":
        c3.caption("This run's weights can be chosen on the Analyze page.")


_live(selected)

run = jobs.load_run(jobs.RUNS_DIR / selected)
if run.status == "done":
    with st.expander("Make these weights the default"):
        st.write("The default weights are what every visitor sees first. The current default is kept as "
                 "weights/default.previous.pt.")
        sure = st.checkbox("I have checked this run's test figures and want it as the default")
        if st.button("Promote to default", disabled=not sure):
            from ecg_model.weights import DEFAULT_WEIGHTS

            jobs.promote(run, DEFAULT_WEIGHTS)
            st.cache_resource.clear()
            st.success("Promoted. The Analyze page now uses these weights by default.")
disclaimer()
