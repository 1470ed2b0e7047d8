"""Model card: what the default weights learned from, how well they do, and what they must not be used for."""

import json

import plotly.graph_objects as go
import streamlit as st

from ecg_model.weights import DEFAULT_WEIGHTS
from ui_common import MENDELEY_CREDIT, disclaimer, get_predictor

st.title("Model card")
disclaimer()
predictor = get_predictor()
if predictor is None:
    st.stop()
ckpt = predictor.ckpt
metrics = ckpt.get("metrics", {})
training = ckpt.get("training", {})
card_path = DEFAULT_WEIGHTS.with_name("model_card.json")
card = json.loads(card_path.read_text()) if card_path.exists() and predictor.weights_path == DEFAULT_WEIGHTS else {}

st.subheader("Model")
cfg = ckpt["model"]
st.write(f"CNN-BiLSTM: a strided stem and {len(cfg['channels'])} conv blocks ({cfg['channels']} channels) read the "
         f"{cfg['input_height']}x{cfg['input_width']} cleaned trace image; each of the feature map's columns is one "
         f"step of a bidirectional LSTM ({cfg['lstm_hidden']} units each way), pooled by {cfg['pooling']}; one "
         f"logit, calibrated as sigmoid(logit / {predictor.temperature:.2f} {predictor.bias:+.2f}) into a "
         f"probability of 'risky' (fitted on the validation printouts and their simulated photos). "
         f"{metrics.get('parameters', 0):,} parameters. Decision threshold {predictor.threshold:.1%}, chosen on the "
         f"validation split (and its simulated photos) for a sensitivity of at least "
         f"{training.get('config', {}).get('sensitivity_target', 0.95):.0%}.")

st.subheader("Training data")
st.write(card.get("data", f"Dataset folder: {training.get('dataset', 'unknown')}; class map "
                          f"{training.get('class_to_idx')}."))
st.write("Images per folder (distinct images):", metrics.get("folder_counts", {}))
st.write("Split by distinct image (exact copies and near-copies kept together):", metrics.get("split_sizes", {}))

test = metrics.get("test")
if test:
    st.subheader("Results on the held-out test split")
    st.caption("Never used for training, model selection, calibration or the threshold.")
    ci = test.get("auroc_ci95") or [None, None]
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("AUROC", f"{test['auroc']:.3f}", help=f"95% bootstrap interval {ci[0]:.3f}-{ci[1]:.3f}" if ci[0] else None)
    c2.metric("Sensitivity", f"{test['sensitivity']:.2f}")
    c3.metric("Specificity", f"{test['specificity']:.2f}")
    c4.metric("ECE (10 bins)", f"{test['ece']:.3f}")
    st.write(f"AUROC 95 % interval: {ci[0]:.3f} to {ci[1]:.3f} (n = {test['n']}). Sensitivity 95 % interval "
             f"{test['sensitivity_ci95'][0]:.2f}-{test['sensitivity_ci95'][1]:.2f}; specificity "
             f"{test['specificity_ci95'][0]:.2f}-{test['specificity_ci95'][1]:.2f}.")
    st.write("Recall per source folder at the threshold (share given the right label), with 95 % intervals:")
    st.dataframe([{"folder": f, "n": v["n"], "recall": round(v["recall"], 3),
                   "95% interval": f"{v['recall_ci95'][0]:.2f}-{v['recall_ci95'][1]:.2f}"}
                  for f, v in test.get("per_folder", {}).items()], hide_index=True)
    rel = [r for r in test.get("reliability", []) if r["count"]]
    if rel:
        fig = go.Figure()
        fig.add_scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfect calibration", line={"dash": "dash"})
        fig.add_scatter(x=[r["mean_prob"] for r in rel], y=[r["observed"] for r in rel], mode="markers+lines",
                        name="model", text=[f"n={r['count']}" for r in rel],
                        marker={"size": [6 + 2 * r["count"] ** 0.5 for r in rel]})
        fig.update_layout(height=360, xaxis_title="predicted risk", yaxis_title="observed share risky",
                          title="Reliability diagram (test split)", xaxis_range=[0, 1], yaxis_range=[0, 1])
        st.plotly_chart(fig)
    rows = []
    for name, d in (("validation printouts (chose epoch and calibration)", metrics.get("validation")),
                    ("validation as simulated photos", metrics.get("validation_photos")),
                    ("test printouts", test), ("test as simulated photos", card.get("photo_test"))):
        if d and d.get("auroc") is not None:
            lo, hi = d.get("auroc_ci95") or [None, None]
            rows.append({"data": name, "n": d["n"], "AUROC": round(d["auroc"], 3),
                         "95% interval": f"{lo:.3f}-{hi:.3f}" if lo is not None else "",
                         "ECE": None if d.get("ece") is None else round(d["ece"], 3)})
    st.write("All held-out figures:")
    st.dataframe(rows, hide_index=True)
    inf = card.get("infarction_vs_normal")
    if inf:
        st.write("Infarction (MI and history of MI) against Normal, AUROC: " + "; ".join(
            f"{part} {v['auroc']:.3f} (n = {v['n']})" for part, v in inf.items()))

st.subheader("Limits of use")
st.markdown("""
- **Not a medical device.** It must not be used to diagnose, treat, triage or reassure anyone, nor to decide
  whether someone needs care. A normal-looking result does not rule out a heart attack.
- Trained on few images (hundreds) from **one ECG machine and one print template** in one country; other
  machines, layouts, paper speeds, gains and populations may behave differently and were not validated.
- "Risky" lumps together acute MI, a history of MI and abnormal heartbeats, as the source dataset labels them;
  it is not a specific diagnosis.
- Photos are cleaned automatically; a wrongly found page or a poor photo can change the result. Check the
  Preprocessing page.
- The uncertainty band only reflects small shifts of the image, not all sources of error.
""")

st.subheader("Data credits")
st.markdown(f"- {MENDELEY_CREDIT} Paper: Khan, Hussain, Malik, Data in Brief 34 (2021) 106762.\n"
            "- Synthetic printouts and photos: generated by this project (`ecg_model.synth`); half of the "
            "synthetic training printouts are drawn from PTB-XL records (Wagner et al., PhysioNet, CC BY 4.0).")
disclaimer()
