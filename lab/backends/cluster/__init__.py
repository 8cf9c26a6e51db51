"""The cluster lab: k3d or minikube, Istio, cert-manager, the same apps and exercises."""
