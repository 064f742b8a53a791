//! wa-sim: WhatsApp Web played on localhost, with the `WPP` bridge surface, for tests and demos.
