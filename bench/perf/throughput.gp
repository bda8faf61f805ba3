# Throughput against connection count, ours and nginx (HTTP keep-alive, wrk).
# Usage: gnuplot -e "datafile='sweep.dat'; outfile='throughput.png'; subtitle='...'" throughput.gp
# sweep.dat columns: connections, ours requests/s, nginx requests/s (medians).
if (!exists("subtitle")) subtitle = ""
set terminal pngcairo size 900,540 enhanced font "DejaVu Sans,11"
set output outfile
set title "GET /msg\\_server over keep-alive: requests/s against connections\n{/*0.8 ".subtitle."}"
set xlabel "concurrent connections (wrk -t1, log scale)"
set ylabel "requests per second (median of runs)"
set logscale x 2
set xtics (1, 4, 16, 64, 256, 1024)
set format y "%.0s%c"
set yrange [0:*]
set grid ytics lc rgb "#dddddd"
set key bottom right box opaque
set style line 1 lc rgb "#1f77b4" lw 2.5 pt 7 ps 1.3
set style line 2 lc rgb "#d62728" lw 2.5 pt 5 ps 1.3
plot datafile using 1:2 with linespoints ls 1 title "ttlogin login\\_server (IoThreads=1)", \
     datafile using 1:3 with linespoints ls 2 title "nginx 1 worker, static file"
