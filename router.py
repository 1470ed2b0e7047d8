"""The app's pages (each its own file in pages/); `streamlit run app.py` serves this script."""

import streamlit as st

st.set_page_config(page_title="ECG image risk estimate (teaching tool)", page_icon="🫀", layout="wide")

pages = [
    st.Page("pages/analyze.py", title="Analyze", icon="🩺", default=True),
    st.Page("pages/preprocessing.py", title="Preprocessing", icon="🧹"),
    st.Page("pages/explain.py", title="Explain", icon="🔎"),
    st.Page("pages/digitize.py", title="Digitise", icon="📈"),
    st.Page("pages/synthetic.py", title="Synthetic ECGs", icon="🧪"),
    st.Page("pages/train.py", title="Train", icon="🏋️"),
    st.Page("pages/model_card.py", title="Model card", icon="📄"),
]
st.navigation(pages).run()
