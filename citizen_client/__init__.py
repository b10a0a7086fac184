"""The booth: the citizen's kiosk page (``kiosk/``) and the device agent (``python -m citizen_client``)."""

__version__ = "0.1.0"
