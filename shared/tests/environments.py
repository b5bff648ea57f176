"""The environments the settings tests read settings from, one definition for every
process's tests."""

# make run's environment: the local defaults apply to it (and to "test").
LOCAL = {"HELPDESK_ENV": "development"}
# Production as a deployment gives it: the broker named, with its own credentials.
PRODUCTION = {"HELPDESK_ENV": "production", "HELPDESK_AMQP_URL": "amqps://helpdesk:pw@mq:5671/hd"}
# What production needs set whatever HELPDESK_ENV says: the broker and a real token secret.
PRODUCTION_SECRETS = {
    "HELPDESK_AMQP_URL": PRODUCTION["HELPDESK_AMQP_URL"],
    "HELPDESK_JWT_SECRET": "x" * 40,
}
