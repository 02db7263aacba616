"""spotipop: music track popularity from audio spectrograms and Spotify features."""
