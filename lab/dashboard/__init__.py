"""`invoke dashboard`: the lab's live view in a browser (what Kiali is on a cluster), served on
127.0.0.1 by the lab itself: snapshot.py reads the lab, server.py serves it with the page in
assets/ (plain HTML, CSS and a small script that draws the routes as an SVG graph)."""
