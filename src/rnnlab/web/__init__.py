"""The web lab: watch a recurrent network think, step by step, in the browser.

``rnnlab serve [CKPT]`` starts it (see ``rnnlab.web.command``). The backend is a FastAPI
app (``rnnlab.web.app.create_app``) over a ``Lab`` of small models (``rnnlab.web.lab``);
what each panel shows is computed in ``rnnlab.web.views`` from the probes of
``rnnlab.probe``; the page itself is plain HTML, CSS and JavaScript modules in
``static/``, drawn with our own small SVG and canvas code (no build step).

Importing this package imports neither FastAPI nor uvicorn.
"""
