"""Image decoding and encoding for the detector: bytes from HTTP/Socket.IO, ROS image fields.

Pixel arrays handed to detector logics are RGB, uint8, HxWx3 (the Learning Loop
decodes uploads to RGB, so raw arrays its clients send are RGB too).
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import simplejpeg

# JPEG SOI, PNG, GIF, BMP, TIFF (both byte orders), WebP (RIFF).
_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG", b"GIF8", b"BM", b"II*\x00", b"MM\x00*", b"RIFF")


class ImageError(ValueError):
    """The bytes or arrays given are not a usable image; the message says why, `status`
    is the HTTP status that fits (400 corrupt or malformed, 413 too large, 415 no image)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def decode_image(data: bytes, max_pixels: int = 40_000_000) -> np.ndarray:
    """Decode encoded image bytes (JPEG, PNG, ...) to an RGB uint8 array (EXIF orientation applied).

    JPEGs are decoded by libjpeg-turbo through simplejpeg (same pixels as OpenCV, faster:
    see README); JPEGs with EXIF data (orientation) or a colour space it cannot convert, and
    every other format, go through OpenCV."""
    if not data:
        raise ImageError("empty image: no bytes received", 415)
    if not data.startswith(_SIGNATURES):
        raise ImageError("not an image: the bytes are no JPEG, PNG, GIF, BMP, TIFF or WebP", 415)
    if data.startswith(b"\xff\xd8\xff"):
        try:
            height, width, _, _ = simplejpeg.decode_jpeg_header(data)
        except ValueError as exc:
            raise ImageError(f"corrupt image: {exc}") from exc
        # Reject decompression bombs before allocating.
        if width * height > max_pixels:
            raise ImageError(f"image too large: {width}x{height} pixels, at most {max_pixels}", 413)
        if not _has_exif(data):
            try:
                return simplejpeg.decode_jpeg(data, colorspace="RGB", strict=True)
            except ValueError as exc:
                if "colorspace" not in str(exc).lower() and "color space" not in str(exc).lower():
                    raise ImageError(f"corrupt image: {exc}") from exc
    bgr = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ImageError("corrupt image: the data could not be decoded")
    if bgr.shape[0] * bgr.shape[1] > max_pixels:
        raise ImageError(f"image too large: {bgr.shape[1]}x{bgr.shape[0]} pixels, at most {max_pixels}", 413)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _has_exif(jpeg: bytes) -> bool:
    """Whether a JPEG carries an EXIF segment (APP1 'Exif') before its image data."""
    i, n = 2, len(jpeg)
    while i + 4 <= n and jpeg[i] == 0xFF:
        marker = jpeg[i + 1]
        if marker == 0xDA:  # start of scan: no more headers
            return False
        length = int.from_bytes(jpeg[i + 2:i + 4], "big")
        if marker == 0xE1 and jpeg[i + 4:i + 10] == b"Exif\0\0":
            return True
        i += 2 + length
    return False


def as_rgb(array: np.ndarray) -> np.ndarray:
    """A uint8 HxWx3 RGB view or copy of a gray, RGB or RGBA array; raises ImageError otherwise."""
    if array.dtype != np.uint8:
        if np.issubdtype(array.dtype, np.floating) and array.size and float(array.max()) <= 1.0:
            array = (array * 255.0).round()
        array = np.clip(array, 0, 255).astype(np.uint8)
    if array.ndim == 2:
        return cv2.cvtColor(array, cv2.COLOR_GRAY2RGB)
    if array.ndim == 3 and array.shape[2] == 1:
        return cv2.cvtColor(array[:, :, 0], cv2.COLOR_GRAY2RGB)
    if array.ndim == 3 and array.shape[2] == 3:
        return array
    if array.ndim == 3 and array.shape[2] == 4:
        return np.ascontiguousarray(array[:, :, :3])
    raise ImageError(f"unsupported image shape {array.shape}: expected HxW, HxWx1, HxWx3 or HxWx4")


def image_from_dict(image: Any, max_pixels: int = 40_000_000) -> tuple[np.ndarray, bytes | None]:
    """Parse a Socket.IO image: `{format: raw|jpeg, bytes, dtype, shape}` (or bare JPEG bytes,
    as older clients send). Returns (RGB array, the encoded bytes when the client sent JPEG)."""
    if isinstance(image, (bytes, bytearray)):
        return decode_image(bytes(image), max_pixels), bytes(image)
    if not isinstance(image, dict):
        raise ImageError("image must be an object {format, bytes, dtype, shape} or JPEG bytes")
    fmt = image.get("format", "raw")
    data = image.get("bytes")
    if not isinstance(data, (bytes, bytearray)):
        raise ImageError("image 'bytes' must be binary data")
    if fmt == "jpeg":
        return decode_image(bytes(data), max_pixels), bytes(data)
    if fmt != "raw":
        raise ImageError(f"unknown image format {fmt!r}: expected 'raw' or 'jpeg'")
    try:
        dtype = np.dtype(image["dtype"])
        shape = tuple(int(s) for s in image["shape"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ImageError(f"raw image needs a valid 'dtype' and 'shape': {exc}") from exc
    if not shape or any(s <= 0 for s in shape) or len(shape) > 3:
        raise ImageError(f"raw image shape {shape} is not an image shape")
    if shape[0] * (shape[1] if len(shape) > 1 else 1) > max_pixels:
        raise ImageError(f"image too large: {shape}, at most {max_pixels} pixels", 413)
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(data) != expected:
        raise ImageError(f"raw image has {len(data)} bytes, shape {shape} of {dtype} needs {expected}")
    return as_rgb(np.frombuffer(bytes(data), dtype=dtype).reshape(shape)), None


def encode_jpeg(rgb: np.ndarray, quality: int = 90) -> bytes:
    return simplejpeg.encode_jpeg(np.ascontiguousarray(rgb), quality=quality, colorspace="RGB")


# ROS sensor_msgs/Image encodings we read, with their channel count.
_ROS_ENCODINGS = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1}


def rgb_from_ros(width: int, height: int, encoding: str, step: int, data: bytes | np.ndarray) -> np.ndarray:
    """RGB array from the fields of a sensor_msgs/Image (rgb8, bgr8, rgba8, bgra8, mono8)."""
    channels = _ROS_ENCODINGS.get(encoding)
    if channels is None:
        raise ImageError(f"unsupported image encoding {encoding!r}: expected one of {sorted(_ROS_ENCODINGS)}")
    if width <= 0 or height <= 0 or step < width * channels:
        raise ImageError(f"bad image geometry {width}x{height}, step {step} for {encoding}")
    buf = np.frombuffer(data, dtype=np.uint8) if not isinstance(data, np.ndarray) else data
    if buf.size < step * height:
        raise ImageError(f"image data has {buf.size} bytes, {height} rows of step {step} need {step * height}")
    rows = buf[:step * height].reshape(height, step)[:, :width * channels]
    if channels == 1:
        return cv2.cvtColor(np.ascontiguousarray(rows), cv2.COLOR_GRAY2RGB)
    pixels = rows.reshape(height, width, channels)
    code = {"rgb8": None, "bgr8": cv2.COLOR_BGR2RGB, "rgba8": cv2.COLOR_RGBA2RGB,
            "bgra8": cv2.COLOR_BGRA2RGB}[encoding]
    return np.ascontiguousarray(pixels) if code is None else cv2.cvtColor(pixels, code)


def bgr_bytes(rgb: np.ndarray) -> bytes:
    """Pixel bytes of an RGB array in bgr8 order (for a sensor_msgs/Image)."""
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR).tobytes()
