"""What the user does with recorded sessions: the Sessions, Playback, Compare and Matrix tabs.

The views only ask and show: every read of the log is a job calling
``console.session.browse`` (or the session layer behind it), never SQL here.
"""
