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


def image_size(data: bytes) -> tuple[int, int]:
    """(width, height) read from an encoded image's header, without decoding its pixels
    (JPEG, PNG, GIF, BMP, TIFF, WebP). Raises ImageError (415 no image, 400 header broken)."""
    if not data:
        raise ImageError("empty image: no bytes received", 415)
    if not data.startswith(_SIGNATURES):
        raise ImageError("not an image: the bytes are no JPEG, PNG, GIF, BMP, TIFF or WebP", 415)
    try:
        if data.startswith(b"\xff\xd8\xff"):
            height, width, _, _ = simplejpeg.decode_jpeg_header(data)
            return int(width), int(height)
        if data.startswith(b"\x89PNG"):
            if len(data) < 24 or data[12:16] != b"IHDR":
                raise ValueError("PNG without an IHDR chunk")
            return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
        if data.startswith(b"GIF8"):
            if len(data) < 10:
                raise ValueError("GIF header cut short")
            return int.from_bytes(data[6:8], "little"), int.from_bytes(data[8:10], "little")
        if data.startswith(b"BM"):
            if len(data) < 26:
                raise ValueError("BMP header cut short")
            if int.from_bytes(data[14:18], "little") == 12:  # OS/2 BITMAPCOREHEADER
                return int.from_bytes(data[18:20], "little"), int.from_bytes(data[20:22], "little")
            return (abs(int.from_bytes(data[18:22], "little", signed=True)),
                    abs(int.from_bytes(data[22:26], "little", signed=True)))
        if data.startswith(b"RIFF"):
            return _webp_size(data)
        return _tiff_size(data)
    except ValueError as exc:
        raise ImageError(f"corrupt image: {exc}") from exc


def _webp_size(data: bytes) -> tuple[int, int]:
    if data[8:12] != b"WEBP" or len(data) < 30:
        raise ValueError("RIFF data that is no WebP image")
    chunk = data[12:16]
    if chunk == b"VP8 ":
        return (int.from_bytes(data[26:28], "little") & 0x3FFF,
                int.from_bytes(data[28:30], "little") & 0x3FFF)
    if chunk == b"VP8L":
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":
        return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    raise ValueError(f"unknown WebP chunk {chunk!r}")


def _tiff_size(data: bytes) -> tuple[int, int]:
    """Width and height of every image in a TIFF's IFD chain: the largest (OpenCV reads one)."""
    order = "little" if data[:2] == b"II" else "big"
    offset = int.from_bytes(data[4:8], order)
    largest = None
    for _ in range(64):  # a bounded chain, even when it loops
        if offset == 0:
            break
        if offset + 2 > len(data):
            raise ValueError("TIFF directory beyond the end of the data")
        count = int.from_bytes(data[offset:offset + 2], order)
        size = {}
        for i in range(count):
            entry = data[offset + 2 + 12 * i: offset + 14 + 12 * i]
            if len(entry) < 12:
                raise ValueError("TIFF directory cut short")
            tag, kind = int.from_bytes(entry[:2], order), int.from_bytes(entry[2:4], order)
            if tag in (256, 257):
                size[tag] = int.from_bytes(entry[8:10] if kind == 3 else entry[8:12], order)
        if 256 not in size or 257 not in size:
            raise ValueError("TIFF directory without width and height")
        if largest is None or size[256] * size[257] > largest[0] * largest[1]:
            largest = (size[256], size[257])
        end = offset + 2 + 12 * count
        offset = int.from_bytes(data[end:end + 4], order) if end + 4 <= len(data) else 0
    if largest is None:
        raise ValueError("TIFF without an image directory")
    return largest


def decode_image(data: bytes, max_pixels: int = 40_000_000) -> np.ndarray:
    """Decode encoded image bytes (JPEG, PNG, ...) to an RGB uint8 array (EXIF orientation applied).

    The size is read from the header first, so an image beyond `max_pixels` (a
    decompression bomb) is refused before any pixel memory is allocated, whatever its format.
    JPEGs are decoded by libjpeg-turbo through simplejpeg (same pixels as OpenCV, faster:
    see README); JPEGs with EXIF data (orientation) or a colour space it cannot convert, and
    every other format, go through OpenCV."""
    width, height = image_size(data)
    if width <= 0 or height <= 0:
        raise ImageError(f"corrupt image: the header says {width}x{height} pixels")
    if width * height > max_pixels:
        raise ImageError(f"image too large: {width}x{height} pixels, at most {max_pixels}", 413)
    if data.startswith(b"\xff\xd8\xff") and not _has_exif(data):
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
    if dtype.kind not in "biuf" or dtype.itemsize > 8:
        raise ImageError(f"raw image dtype {dtype.name!r} is not a pixel type: expected an integer, "
                         "bool or float dtype such as 'uint8'")
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
