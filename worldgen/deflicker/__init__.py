"""Two ways to take flicker out of a clip: FFmpeg's ``deflicker`` filter
(:mod:`~worldgen.deflicker.ffmpeg`, one luma gain per frame: global brightness flicker) and a
motion-compensated temporal filter (:mod:`~worldgen.deflicker.flow`, any flicker that is not
motion, exact with a worldgen render's flow); ``worldgen deflicker`` is
:mod:`~worldgen.eval.deflicker`."""
