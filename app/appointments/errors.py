"""Errors of the video-call booking domain (mapped to HTTP with every other
AppError in app/errors.py)."""

from __future__ import annotations

from app.errors import AppError, Conflict, NotFound, UnprocessableEntity


class UnknownTimeZone(UnprocessableEntity):
    code = "UnknownTimeZone"
    message = "This is not an IANA time zone name such as Asia/Shanghai or Pacific/Auckland."


class VideoCallNotOffered(AppError):
    status_code = 403
    code = "VideoCallNotOffered"
    message = (
        "Video-call certification is for pensioners living abroad and for those who cannot "
        "certify remotely (locked out, refused, or no photo on file). Please certify with the "
        "app or page instead."
    )


class AppointmentNotFound(NotFound):
    code = "AppointmentNotFound"
    message = "No such video-call appointment of yours."


class SlotNotAvailable(Conflict):
    code = "SlotNotAvailable"
    message = "This time is not an open slot; pick one from the list of open slots."


class SlotTaken(Conflict):
    code = "SlotTaken"
    message = "This time was just taken, please pick another."


class AlreadyBooked(Conflict):
    code = "AlreadyBooked"
    message = "You already have a video call booked; reschedule or cancel it instead."


class TooLateToChange(Conflict):
    code = "TooLateToChange"
    message = "This appointment is too close to change or cancel."


class AppointmentClosed(Conflict):
    code = "AppointmentClosed"
    message = "This appointment was cancelled, rescheduled or has already been decided."


class InvalidAvailability(UnprocessableEntity):
    code = "InvalidAvailability"
