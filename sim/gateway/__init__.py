"""The home-monitoring gateway: the pump's peer at home.

``store`` keeps what it pulled in SQLite, ``service`` pulls it over the secure channel
and keeps the pump's clock, ``update`` delivers signed images, ``web`` shows a caregiver
the store, ``export`` writes it for Nightscout and spreadsheets.
"""
