"""The app's pages (each its own file in pages/); `streamlit run app.py` serves this script."""

import streamlit as st

st.set_page_config(page_title="ECG image risk estimate (teaching tool)", page_icon="🫀", layout="wide")

pages = [
    st.Page("pages/analyze.py", title="Analyze", icon=":material/stethoscope:", default=True),
    st.Page("pages/preprocessing.py", title="Preprocessing", icon=":material/cleaning_services:"),
    st.Page("pages/explain.py", title="Explain", icon=":material/search:"),
    st.Page("pages/digitize.py", title="Digitise", icon=":material/show_chart:"),
    st.Page("pages/synthetic.py", title="Synthetic ECGs", icon=":material/science:"),
    st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
    st.Page("pages/model_card.py", title="Model card", icon=":material/description:"),
]
st.navigation(pages).run()
